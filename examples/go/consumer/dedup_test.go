package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func outcome(event, status string, offset int64) []byte {
	return []byte(fmt.Sprintf(
		`{"event_id":%q,"status":%q,"source":{"topic":"changes","partition":1,"offset":%d}}`,
		event, status, offset))
}

// offer passes each value to d and returns the JSON lines printed, decoded.
func offer(t *testing.T, d *Deduplicator, out *bytes.Buffer, values ...[]byte) []map[string]any {
	t.Helper()
	for _, value := range values {
		if err := d.Offer(value); err != nil {
			t.Fatal(err)
		}
	}
	var printed []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if line == "" {
			continue
		}
		var doc map[string]any
		if err := json.Unmarshal([]byte(line), &doc); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		printed = append(printed, doc)
	}
	return printed
}

func TestFirstFinalOutcomeWinsAndOthersAreSkipped(t *testing.T) {
	var out bytes.Buffer
	d := NewDeduplicator(&out, "run-")
	printed := offer(t, d, &out,
		outcome("run-1", "applied", 1),
		outcome("run-1", "duplicate", 1), // redelivered after a crash: dropped
		outcome("run-2", "superseded", 2),
		outcome("run-2", "applied", 2), // a final one corrects the earlier status
		outcome("run-2", "stale", 2),   // dropped
		outcome("other-3", "applied", 3),
	)
	if err := d.Offer([]byte("not json")); err == nil {
		t.Fatal("a record that is not an outcome must be an error")
	}
	if len(printed) != 3 {
		t.Fatalf("printed %d lines, want 3:\n%s", len(printed), out.String())
	}
	if _, marked := printed[0]["corrects"]; marked {
		t.Fatalf("a first outcome is no correction: %v", printed[0])
	}
	corrected := printed[2]
	if corrected["status"] != "applied" || corrected["corrects"] != true ||
		corrected["replaces"] != "superseded" {
		t.Fatalf("third line: %v", corrected)
	}
	if d.dropped != 2 || d.corrected != 1 || d.skipped != 1 || len(d.kept) != 2 {
		t.Fatalf("summary: %s", d.Summary())
	}
}

func TestAppliedAfterFailedCorrectsIt(t *testing.T) {
	// A `streams replay` copy's outcome names its original source: failed, then applied.
	var out bytes.Buffer
	d := NewDeduplicator(&out, "")
	printed := offer(t, d, &out,
		outcome("e-1", "failed", 1),
		outcome("e-1", "failed", 1), // redelivered: dropped
		outcome("e-1", "applied", 1),
		outcome("e-1", "failed", 1),    // after applied: dropped
		outcome("e-1", "duplicate", 1), // after applied: dropped
		outcome("e-1", "applied", 1),   // redelivered: dropped
	)
	if len(printed) != 2 {
		t.Fatalf("printed %d lines, want 2:\n%s", len(printed), out.String())
	}
	if printed[0]["status"] != "failed" || printed[0]["corrects"] != nil {
		t.Fatalf("first line: %v", printed[0])
	}
	if printed[1]["status"] != "applied" || printed[1]["corrects"] != true ||
		printed[1]["replaces"] != "failed" {
		t.Fatalf("second line: %v", printed[1])
	}
	if d.kept[Source{"changes", 1, 1}] != "applied" || d.dropped != 4 || d.corrected != 1 {
		t.Fatalf("summary: %s", d.Summary())
	}
}

func TestFailedCorrectsOnlyANonFinalOutcome(t *testing.T) {
	var out bytes.Buffer
	d := NewDeduplicator(&out, "")
	printed := offer(t, d, &out,
		outcome("e-1", "superseded", 1),
		outcome("e-1", "failed", 1),  // corrects the non-final status
		outcome("e-1", "stale", 1),   // dropped
		outcome("e-1", "applied", 1), // corrects the failed one in turn
		outcome("e-2", "applied", 2),
		outcome("e-2", "failed", 2), // never overrides an applied
	)
	statuses := make([]string, 0, len(printed))
	for _, doc := range printed {
		statuses = append(statuses, fmt.Sprintf("%v/%v/%v", doc["status"], doc["corrects"], doc["replaces"]))
	}
	want := "superseded/<nil>/<nil> failed/true/superseded applied/true/failed applied/<nil>/<nil>"
	if got := strings.Join(statuses, " "); got != want {
		t.Fatalf("printed %s, want %s", got, want)
	}
	if d.dropped != 2 || d.corrected != 2 {
		t.Fatalf("summary: %s", d.Summary())
	}
}

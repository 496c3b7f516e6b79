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

func TestFirstFinalOutcomeWinsAndOthersAreSkipped(t *testing.T) {
	var out bytes.Buffer
	d := NewDeduplicator(&out, "run-")
	for _, value := range [][]byte{
		outcome("run-1", "applied", 1),
		outcome("run-1", "duplicate", 1), // redelivered after a crash: dropped
		outcome("run-2", "superseded", 2),
		outcome("run-2", "applied", 2), // a final one replaces the earlier status
		outcome("run-2", "stale", 2),   // dropped
		outcome("other-3", "applied", 3),
	} {
		if err := d.Offer(value); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Offer([]byte("not json")); err == nil {
		t.Fatal("a record that is not an outcome must be an error")
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("printed %d lines, want 3:\n%s", len(lines), out.String())
	}
	var replaced map[string]any
	if err := json.Unmarshal([]byte(lines[2]), &replaced); err != nil {
		t.Fatal(err)
	}
	if replaced["status"] != "applied" || replaced["replaces"] != "superseded" {
		t.Fatalf("third line: %v", replaced)
	}
	if d.dropped != 2 || d.replaced != 1 || d.skipped != 1 || len(d.kept) != 2 {
		t.Fatalf("summary: %s", d.Summary())
	}
}

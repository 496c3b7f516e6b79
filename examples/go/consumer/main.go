// Command consumer reads the outcomes topic as a member of a consumer group with franz-go and
// prints each event's outcome once, as docs/CONTRACT.md and docs/RELIABILITY.md ask of every
// consumer:
//
//   - Outcomes are delivered at least once: after a crash or a rebalance an event can get a
//     second outcome (the same one again, or `duplicate` / `stale` / `superseded` after a first
//     one), and a copy re-published by `streams replay` gets an outcome that names the original
//     event's `source`. Deduplicate by the outcome's `source` (topic, partition, offset), the
//     input record it answers.
//   - The first final outcome (`applied` or `failed`) for a source is authoritative, except that
//     a later `applied` overrides a `failed` (`failed` means "not confirmed": a replayed copy
//     that succeeds corrects it). So the first outcome of a source is printed, and a later one
//     only when it outranks what was printed (`applied` after anything else, `failed` after a
//     non-final status): it is printed then as a correction, with "corrects": true and
//     "replaces" naming the status it replaces. Everything else is dropped, in particular a
//     `failed` or a non-final status after an `applied`.
//
// Each outcome kept is printed as one JSON line on standard output (the record's value, plus
// "corrects" and "replaces" when it corrects an earlier one). With --event-prefix it keeps only
// events whose event_id starts with that prefix (one producer's run) and skips the rest. With
// --expect N it stops once N distinct sources have an outcome and exits 0 (1 if --timeout-s
// passes first); otherwise it runs until interrupted. A summary goes to standard error.
//
// Offsets are committed after the records of a poll are printed, with rebalances held off
// while a poll's records are handled (kgo.BlockRebalanceOnPoll): a crash before the commit
// prints them again, and the next member of the group deduplicates them like any redelivery.
// A new group starts at the oldest outcome.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"log"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Source is the position of the input record an outcome answers.
type Source struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
}

// Outcome holds the fields of an outcome this consumer needs; the full record is printed as is.
type Outcome struct {
	EventID string `json:"event_id"`
	Status  string `json:"status"`
	Source  Source `json:"source"`
}

// rank orders outcomes by how authoritative they are: applied over failed over any non-final
// status (superseded, stale, duplicate, rejected...).
func rank(status string) int {
	switch status {
	case "applied":
		return 2
	case "failed":
		return 1
	default:
		return 0
	}
}

// Deduplicator keeps the authoritative outcome per source (used from one goroutine).
type Deduplicator struct {
	prefix    string
	kept      map[Source]string // source -> status printed last
	dropped   int
	corrected int
	skipped   int
	out       *json.Encoder
}

// NewDeduplicator prints kept outcomes to out; only events whose id starts with prefix count.
func NewDeduplicator(out io.Writer, prefix string) *Deduplicator {
	return &Deduplicator{prefix: prefix, kept: map[Source]string{}, out: json.NewEncoder(out)}
}

// Offer takes one outcome record and prints it if it is kept: the first outcome of its source,
// or a final one that outranks the one printed for it (printed as a correction).
func (d *Deduplicator) Offer(value []byte) error {
	var outcome Outcome
	if err := json.Unmarshal(value, &outcome); err != nil {
		return err
	}
	if !strings.HasPrefix(outcome.EventID, d.prefix) {
		d.skipped++
		return nil
	}
	previous, seen := d.kept[outcome.Source]
	switch {
	case !seen:
		d.kept[outcome.Source] = outcome.Status
		return d.out.Encode(json.RawMessage(value))
	case rank(outcome.Status) > rank(previous): // only a final status outranks another
		d.kept[outcome.Source] = outcome.Status
		d.corrected++
		var doc map[string]any
		if err := json.Unmarshal(value, &doc); err != nil {
			return err
		}
		doc["corrects"] = true
		doc["replaces"] = previous
		return d.out.Encode(doc)
	default:
		d.dropped++
		return nil
	}
}

// Summary counts the kept sources per status.
func (d *Deduplicator) Summary() string {
	statuses := map[string]int{}
	for _, status := range d.kept {
		statuses[status]++
	}
	names := make([]string, 0, len(statuses))
	for name := range statuses {
		names = append(names, name)
	}
	sort.Strings(names)
	parts := make([]string, 0, len(names))
	for _, name := range names {
		parts = append(parts, name+"="+strconv.Itoa(statuses[name]))
	}
	return strconv.Itoa(len(d.kept)) + " sources (" + strings.Join(parts, " ") + "); " +
		strconv.Itoa(d.dropped) + " redelivered outcomes dropped, " +
		strconv.Itoa(d.corrected) + " corrected by a later one, " +
		strconv.Itoa(d.skipped) + " of other events skipped"
}

func main() {
	brokers := flag.String("brokers", "127.0.0.1:9092", "comma-separated bootstrap brokers")
	topic := flag.String("topic", "conversation-custom-data-outcomes", "outcomes topic")
	group := flag.String("group", "streams-example-outcomes", "consumer group id")
	prefix := flag.String("event-prefix", "", "only events whose event_id starts with this")
	expect := flag.Int("expect", 0, "stop after this many distinct sources (0: run until interrupted)")
	timeout := flag.Float64("timeout-s", 0, "give up after this many seconds (0: never)")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("consumer: ")

	ctx, cancel := context.WithCancel(context.Background())
	if *timeout > 0 {
		ctx, cancel = context.WithTimeout(context.Background(), time.Duration(*timeout*float64(time.Second)))
	}
	defer cancel()
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	go func() { <-signals; cancel() }()

	client, err := kgo.NewClient(
		kgo.SeedBrokers(strings.Split(*brokers, ",")...),
		kgo.ClientID("streams-example-consumer"),
		kgo.ConsumerGroup(*group),
		kgo.ConsumeTopics(*topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), // a new group reads from the oldest
		kgo.DisableAutoCommit(),                           // committed below, after printing
		kgo.BlockRebalanceOnPoll(),
	)
	if err != nil {
		log.Fatalf("configuring the client for %s: %v", *brokers, err)
	}

	dedup := NewDeduplicator(os.Stdout, *prefix)
	reached := *expect > 0 && len(dedup.kept) >= *expect
	for !reached && ctx.Err() == nil {
		fetches := client.PollFetches(ctx)
		if fetches.IsClientClosed() {
			break
		}
		fetches.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
				log.Printf("fetching %s/%d: %v", t, p, err)
			}
		})
		fetches.EachRecord(func(r *kgo.Record) {
			if err := dedup.Offer(r.Value); err != nil {
				log.Printf("skipping %s/%d/%d: not an outcome: %v", r.Topic, r.Partition, r.Offset, err)
			}
		})
		if err := client.CommitUncommittedOffsets(context.Background()); err != nil {
			log.Printf("committing: %v", err) // the next poll's commit covers these offsets too
		}
		client.AllowRebalance()
		reached = *expect > 0 && len(dedup.kept) >= *expect
	}
	closing, stop := context.WithTimeout(context.Background(), 10*time.Second)
	defer stop()
	if err := client.LeaveGroupContext(closing); err != nil {
		log.Printf("leaving the group: %v", err)
	}
	client.Close()

	log.Print(dedup.Summary())
	if *expect > 0 && !reached {
		log.Printf("FAILED: %d of %d expected sources before the timeout", len(dedup.kept), *expect)
		os.Exit(1)
	}
}

// Command consumer reads the outcomes topic in a consumer group with Sarama and prints each
// event's outcome once, as docs/CONTRACT.md and docs/RELIABILITY.md ask of every consumer:
//
//   - Outcomes are delivered at least once: after a crash or a rebalance an event can get a
//     second outcome (the same one again, or `duplicate` / `stale` / `superseded` after a first
//     one). Deduplicate by the outcome's `source` (topic, partition, offset), the input record
//     it answers.
//   - The first final outcome (`applied` or `failed`) for a source is authoritative. Another
//     status seen first is kept until a final one for the same source arrives, which replaces
//     it (it is printed then, with "replaces" naming the status it replaces); later ones are
//     dropped.
//
// Each outcome kept is printed as one JSON line on standard output (the record's value, plus
// "replaces" when it replaces an earlier one). With -expect N it stops once N distinct sources
// have an outcome and exits 0 (1 if -timeout passes first); otherwise it runs until interrupted.
// A summary goes to standard error.
//
// -no-group reads every partition from the oldest offset without a consumer group: the
// embedded Tansu broker cannot be joined by Sarama 1.22 (see consumeWithoutGroup). Use the
// default, a member of the group, against Apache Kafka.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/Shopify/sarama"
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

func final(status string) bool { return status == "applied" || status == "failed" }

// Deduplicator keeps the authoritative outcome per source.
type Deduplicator struct {
	mu       sync.Mutex
	kept     map[Source]string // source -> status kept
	dropped  int
	replaced int
	out      *json.Encoder
}

// Offer takes one outcome record and prints it if it is kept; it returns the count of sources.
func (d *Deduplicator) Offer(value []byte) (int, error) {
	var outcome Outcome
	if err := json.Unmarshal(value, &outcome); err != nil {
		return 0, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	previous, seen := d.kept[outcome.Source]
	switch {
	case !seen:
		d.kept[outcome.Source] = outcome.Status
		return len(d.kept), d.out.Encode(json.RawMessage(value))
	case !final(previous) && final(outcome.Status):
		d.kept[outcome.Source] = outcome.Status
		d.replaced++
		var doc map[string]interface{}
		if err := json.Unmarshal(value, &doc); err != nil {
			return 0, err
		}
		doc["replaces"] = previous
		return len(d.kept), d.out.Encode(doc)
	default:
		d.dropped++
		return len(d.kept), nil
	}
}

type handler struct {
	dedup  *Deduplicator
	expect int
	done   func()
}

func (h *handler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (h *handler) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (h *handler) ConsumeClaim(session sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for msg := range claim.Messages() {
		count, err := h.dedup.Offer(msg.Value)
		if err != nil {
			log.Printf("skipping %s/%d/%d: not an outcome: %v", msg.Topic, msg.Partition, msg.Offset, err)
		}
		// Marked after it is printed: a crash before the commit prints it again, and the
		// next consumer of the group deduplicates it like any other redelivery.
		session.MarkMessage(msg, "")
		if h.expect > 0 && count >= h.expect {
			h.done()
		}
	}
	return nil
}

func main() {
	brokers := flag.String("brokers", "127.0.0.1:9092", "comma-separated bootstrap brokers")
	topic := flag.String("topic", "conversation-custom-data-outcomes", "outcomes topic")
	group := flag.String("group", "streams-example-outcomes", "consumer group id")
	expect := flag.Int("expect", 0, "stop after this many distinct sources (0: run until interrupted)")
	timeout := flag.Duration("timeout", 0, "give up after this long (0: never)")
	noGroup := flag.Bool("no-group", false,
		"read every partition from the oldest offset without a consumer group (no commits);"+
			" for the embedded Tansu broker, which Sarama 1.22 cannot join")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("consumer: ")

	config := sarama.NewConfig()
	config.ClientID = "streams-example-consumer"
	config.Version = sarama.V2_1_0_0 // consumer groups need 0.10.2 or later
	config.Consumer.Offsets.Initial = sarama.OffsetOldest
	config.Consumer.Return.Errors = true
	config.Consumer.Group.Session.Timeout = 6 * time.Second
	config.Consumer.Group.Heartbeat.Interval = 2 * time.Second
	config.Consumer.Group.Rebalance.Strategy = sarama.BalanceStrategyRange

	ctx, cancel := context.WithCancel(context.Background())
	if *timeout > 0 {
		ctx, cancel = context.WithTimeout(context.Background(), *timeout)
	}
	defer cancel()
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	go func() { <-signals; cancel() }()

	dedup := &Deduplicator{kept: map[Source]string{}, out: json.NewEncoder(os.Stdout)}
	reached := make(chan struct{})
	var once sync.Once
	h := &handler{dedup: dedup, expect: *expect, done: func() { once.Do(func() { close(reached); cancel() }) }}
	addrs := strings.Split(*brokers, ",")
	var err error
	if *noGroup {
		err = consumeWithoutGroup(ctx, addrs, *topic, config, h)
	} else {
		err = consumeInGroup(ctx, addrs, *topic, *group, config, h)
	}
	if err != nil {
		log.Fatal(err)
	}

	dedup.mu.Lock()
	defer dedup.mu.Unlock()
	statuses := map[string]int{}
	for _, status := range dedup.kept {
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
	log.Printf("%d sources (%s); %d redelivered outcomes dropped, %d replaced by a final one",
		len(dedup.kept), strings.Join(parts, " "), dedup.dropped, dedup.replaced)
	select {
	case <-reached:
	default:
		if *expect > 0 {
			log.Printf("FAILED: %d of %d expected sources before the timeout", len(dedup.kept), *expect)
			os.Exit(1)
		}
	}
}

// consumeInGroup is the normal way: a member of the consumer group, partitions balanced
// across the group's members, offsets committed as messages are marked.
func consumeInGroup(ctx context.Context, brokers []string, topic, group string,
	config *sarama.Config, h *handler) error {
	client, err := sarama.NewConsumerGroup(brokers, group, config)
	if err != nil {
		return fmt.Errorf("connecting to %v: %v", brokers, err)
	}
	go func() {
		for err := range client.Errors() {
			log.Printf("error: %v", err)
		}
	}()
	for ctx.Err() == nil {
		// Consume returns at every rebalance; call it again to rejoin.
		if err := client.Consume(ctx, []string{topic}, h); err != nil && ctx.Err() == nil {
			log.Printf("consume: %v; retrying", err)
			time.Sleep(time.Second)
		}
	}
	return client.Close()
}

// consumeWithoutGroup reads every partition of the topic from the oldest offset, without a
// consumer group: no membership, no commits (run one; a restart reads everything again, which
// the deduplication absorbs). It exists for the embedded Tansu broker, which Sarama 1.22 can
// neither join nor commit to: Tansu answered its JoinGroup v1 with MEMBER_ID_REQUIRED (error 79,
// which Kafka sends only from JoinGroup v4 on, and Sarama 1.22 does not handle), and its
// memberless commits (generation -1) with UNKNOWN_MEMBER_ID. Against Apache Kafka use the group.
func consumeWithoutGroup(ctx context.Context, brokers []string, topic string,
	config *sarama.Config, h *handler) error {
	consumer, err := sarama.NewConsumer(brokers, config)
	if err != nil {
		return fmt.Errorf("connecting to %v: %v", brokers, err)
	}
	defer consumer.Close()
	partitions, err := consumer.Partitions(topic)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	for _, partition := range partitions {
		pc, err := consumer.ConsumePartition(topic, partition, sarama.OffsetOldest)
		if err != nil {
			return fmt.Errorf("partition %d: %v", partition, err)
		}
		defer pc.Close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case err := <-pc.Errors():
					log.Printf("error: %v", err)
				case msg := <-pc.Messages():
					count, err := h.dedup.Offer(msg.Value)
					if err != nil {
						log.Printf("skipping %s/%d/%d: not an outcome: %v",
							msg.Topic, msg.Partition, msg.Offset, err)
					}
					if h.expect > 0 && count >= h.expect {
						h.done()
					}
				}
			}
		}()
	}
	wg.Wait()
	return nil
}

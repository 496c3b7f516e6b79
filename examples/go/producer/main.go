// Command producer publishes CustomDataChange events to the changes topic with franz-go, keyed
// by user_id and partitioned like the Java client (murmur2), as the stream processor requires
// (docs/CONTRACT.md).
//
// It generates --n changes over --users users and --conversations conversations per user, each
// with a unique event_id and an increasing version, so repeated conversations make a later
// change supersede an earlier one. Event ids, user ids and conversation ids start with --run-id,
// so runs never touch each other's conversations. With --stdin it publishes JSON lines read from
// standard input instead (each line's user_id is its key). For every record it prints one JSON
// line on standard output: {"event_id", "key", "partition", "offset"}, the position Kafka
// assigned.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Change is the contract's CustomDataChange (schemas/custom_data_change.schema.json).
type Change struct {
	EventID        string `json:"event_id"`
	UserID         string `json:"user_id"`
	ConversationID string `json:"conversation_id"`
	CustomData     string `json:"custom_data"`
	OccurredAt     string `json:"occurred_at"` // RFC 3339 with seconds and an offset
	Version        *int64 `json:"version,omitempty"`
	Source         string `json:"source,omitempty"`
}

// Published is what the producer prints per record.
type Published struct {
	EventID   string `json:"event_id"`
	Key       string `json:"key"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
}

// partitioner is the one setting that matters: for a record with a key, franz-go's
// StickyKeyPartitioner with a nil hasher is Kafka's Java default, murmur2 over the key, sign bit
// masked, modulo the partition count (kgo.KafkaHasher(murmur2)). franz-go's own default,
// UniformBytesPartitioner(64 KiB, true, true, nil), hashes keys the same way; it is named here
// so that nobody swaps in kgo.SaramaCompatHasher (Sarama's FNV-1a) or kgo.SaramaHasher
// (librdkafka's CRC32), which put most users on another partition.
func partitioner() kgo.Partitioner {
	return kgo.StickyKeyPartitioner(nil)
}

func generate(n, users, conversations int, runID string) []Change {
	changes := make([]Change, 0, n)
	now := time.Now().UTC()
	for i := 0; i < n; i++ {
		user := i % users
		conversation := (i / users) % conversations
		version := int64(i)
		changes = append(changes, Change{
			EventID:        fmt.Sprintf("%s-%06d", runID, i),
			UserID:         fmt.Sprintf("%s-user-%03d", runID, user),
			ConversationID: fmt.Sprintf("c2c_%s-peer-%03d-%d", runID, user, conversation),
			CustomData:     fmt.Sprintf("from go #%d", i),
			OccurredAt:     now.Add(time.Duration(i) * time.Millisecond).Format(time.RFC3339Nano),
			Version:        &version,
			Source:         "go-example",
		})
	}
	return changes
}

func readStdin() ([][]byte, []string) {
	var values [][]byte
	var keys []string
	scanner := bufio.NewScanner(os.Stdin)
	scanner.Buffer(make([]byte, 1<<20), 1<<24)
	for scanner.Scan() {
		line := strings.TrimSpace(scanner.Text())
		if line == "" {
			continue
		}
		var doc struct {
			UserID string `json:"user_id"`
		}
		if err := json.Unmarshal([]byte(line), &doc); err != nil || doc.UserID == "" {
			log.Fatalf("line %d: not a change with a user_id: %v", len(values)+1, err)
		}
		values = append(values, []byte(line))
		keys = append(keys, doc.UserID)
	}
	if err := scanner.Err(); err != nil {
		log.Fatal(err)
	}
	return values, keys
}

func main() {
	brokers := flag.String("brokers", "127.0.0.1:9092", "comma-separated bootstrap brokers")
	topic := flag.String("topic", "conversation-custom-data-changes", "changes topic")
	n := flag.Int("n", 100, "changes to generate")
	users := flag.Int("users", 20, "distinct users (keys)")
	conversations := flag.Int("conversations", 3, "conversations per user")
	runID := flag.String("run-id", fmt.Sprintf("go-%d", time.Now().UnixNano()),
		"prefix of the generated event, user and conversation ids")
	stdin := flag.Bool("stdin", false, "publish JSON lines from standard input instead")
	timeout := flag.Float64("timeout-s", 60, "give up publishing after this many seconds")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("producer: ")

	var values [][]byte
	var keys []string
	if *stdin {
		values, keys = readStdin()
	} else {
		for _, change := range generate(*n, *users, *conversations, *runID) {
			value, err := json.Marshal(change)
			if err != nil {
				log.Fatal(err)
			}
			values = append(values, value)
			keys = append(keys, change.UserID)
		}
	}

	client, err := kgo.NewClient(
		kgo.SeedBrokers(strings.Split(*brokers, ",")...),
		kgo.ClientID("streams-example-producer"),
		kgo.DefaultProduceTopic(*topic),
		kgo.RecordPartitioner(partitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()), // the default, with the idempotent producer
	)
	if err != nil {
		log.Fatalf("configuring the client for %s: %v", *brokers, err)
	}
	defer client.Close()

	records := make([]*kgo.Record, len(values))
	for i := range values {
		// The key is the user_id as UTF-8 bytes; the value the change as JSON.
		records[i] = &kgo.Record{Key: []byte(keys[i]), Value: values[i]}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(*timeout*float64(time.Second)))
	defer cancel()
	if err := client.ProduceSync(ctx, records...).FirstErr(); err != nil {
		log.Fatalf("publishing to %s: %v", *brokers, err)
	}
	out := json.NewEncoder(os.Stdout)
	for i, record := range records {
		var doc struct {
			EventID string `json:"event_id"`
		}
		_ = json.Unmarshal(values[i], &doc)
		published := Published{doc.EventID, keys[i], record.Partition, record.Offset}
		if err := out.Encode(published); err != nil {
			log.Fatal(err)
		}
	}
	log.Printf("published %d changes to %s", len(records), *topic)
}

// Command producer publishes CustomDataChange events to the changes topic with Sarama, keyed by
// user_id and partitioned like the Java client (murmur2), as the stream processor requires
// (docs/CONTRACT.md).
//
// It generates -n changes over -users users and -conversations conversations per user, each
// with a unique event_id and an increasing version, so repeated conversations make a later
// change supersede an earlier one. With -stdin it publishes JSON lines read from standard input
// instead (each line's user_id is its key). For every record it prints one JSON line on standard
// output: {"event_id", "key", "partition", "offset"}, the position Kafka assigned.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"strings"
	"time"

	"github.com/Shopify/sarama"

	"streams-examples/kafkahash"
)

// Change is the contract's CustomDataChange (schemas/CustomDataChange.schema.json).
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

func newConfig(partitioner string) *sarama.Config {
	config := sarama.NewConfig()
	config.ClientID = "streams-example-producer"
	config.Version = sarama.V2_1_0_0
	config.Producer.RequiredAcks = sarama.WaitForAll
	config.Producer.Return.Successes = true
	config.Producer.Retry.Max = 5
	// The one setting that matters: Java's murmur2 over the key, sign bit cleared, mod the
	// partition count. Sarama's default (FNV-1a) would put most users on the wrong partition.
	config.Producer.Partitioner = sarama.NewCustomPartitioner(
		sarama.WithAbsFirst(),
		sarama.WithCustomHashFunction(kafkahash.New),
	)
	if partitioner == "sarama-default" { // only to see what goes wrong without the above
		config.Producer.Partitioner = sarama.NewHashPartitioner
	}
	return config
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
			UserID:         fmt.Sprintf("go-user-%03d", user),
			ConversationID: fmt.Sprintf("c2c_go-peer-%03d-%d", user, conversation),
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
	runID := flag.String("run-id", fmt.Sprintf("go-%d", time.Now().UnixNano()), "event_id prefix")
	partitioner := flag.String("partitioner", "murmur2",
		"murmur2 (Java-compatible, required) or sarama-default (FNV-1a: misroutes; to see the effect)")
	stdin := flag.Bool("stdin", false, "publish JSON lines from standard input instead")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("producer: ")
	if *partitioner != "murmur2" && *partitioner != "sarama-default" {
		log.Fatalf("-partitioner: murmur2 or sarama-default, not %q", *partitioner)
	}

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

	producer, err := sarama.NewSyncProducer(strings.Split(*brokers, ","), newConfig(*partitioner))
	if err != nil {
		log.Fatalf("connecting to %s: %v", *brokers, err)
	}
	defer producer.Close()

	messages := make([]*sarama.ProducerMessage, len(values))
	for i := range values {
		messages[i] = &sarama.ProducerMessage{
			Topic: *topic,
			Key:   sarama.StringEncoder(keys[i]), // the key is the user_id, as UTF-8 bytes
			Value: sarama.ByteEncoder(values[i]),
		}
	}
	if err := producer.SendMessages(messages); err != nil {
		log.Fatalf("publishing: %v", err)
	}
	out := json.NewEncoder(os.Stdout)
	for i, msg := range messages {
		var doc struct {
			EventID string `json:"event_id"`
		}
		_ = json.Unmarshal(values[i], &doc)
		if err := out.Encode(Published{doc.EventID, keys[i], msg.Partition, msg.Offset}); err != nil {
			log.Fatal(err)
		}
	}
	log.Printf("published %d changes to %s", len(messages), *topic)
}

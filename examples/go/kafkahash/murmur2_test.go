package kafkahash

import (
	"testing"

	"github.com/Shopify/sarama"
)

// The first six values are the ones Kafka's own Java test of Utils.murmur2 asserts
// (clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java, testMurmur2). All the
// hashes and partitions below were also computed with this repository's Python implementation,
// which a test holds to aiokafka's (streams/core/partitioning.py):
//
//	.venv/bin/python -c 'from streams.core.partitioning import murmur2, partition_for; ...'
var known = []struct {
	key        string
	hash       int32
	partitions [3]int32 // for 4, 8 and 12 partitions
}{
	{"21", -973932308, [3]int32{0, 4, 0}},
	{"foobar", -790332482, [3]int32{2, 6, 6}},
	{"a-little-bit-long-string", -985981536, [3]int32{0, 0, 8}},
	{"a-little-bit-longer-string", -1486304829, [3]int32{3, 3, 11}},
	{"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971, [3]int32{1, 5, 5}},
	{"abc", 479470107, [3]int32{3, 3, 3}},
	{"", 275646681, [3]int32{1, 1, 9}},
	{"alice", 1951417749, [3]int32{1, 5, 9}},
	{"héllo-wörld", 1388409540, [3]int32{0, 4, 0}},
}

var counts = [3]int32{4, 8, 12}

func TestMurmur2MatchesJava(t *testing.T) {
	for _, c := range known {
		if got := Murmur2([]byte(c.key)); got != c.hash {
			t.Errorf("Murmur2(%q) = %d, Java gives %d", c.key, got, c.hash)
		}
		for i, n := range counts {
			if got := Partition([]byte(c.key), n); got != c.partitions[i] {
				t.Errorf("Partition(%q, %d) = %d, Java gives %d", c.key, n, got, c.partitions[i])
			}
		}
	}
}

func TestHash32InterfaceResets(t *testing.T) {
	h := New()
	h.Write([]byte("foo"))
	h.Write([]byte("bar"))
	if got := int32(h.Sum32()); got != -790332482 {
		t.Fatalf("two writes: %d", got)
	}
	h.Reset()
	h.Write([]byte("21"))
	if got := int32(h.Sum32()); got != -973932308 {
		t.Fatalf("after Reset: %d", got)
	}
}

// The partitioner the producer example configures, through Sarama itself.
func TestSaramaPartitionerMatchesJava(t *testing.T) {
	partitioner := sarama.NewCustomPartitioner(
		sarama.WithAbsFirst(),
		sarama.WithCustomHashFunction(New),
	)("conversation-custom-data-changes")
	fnv := sarama.NewHashPartitioner("conversation-custom-data-changes")
	differ := 0
	for _, c := range known {
		for i, n := range counts {
			msg := &sarama.ProducerMessage{Key: sarama.StringEncoder(c.key)}
			got, err := partitioner.Partition(msg, n)
			if err != nil {
				t.Fatal(err)
			}
			if got != c.partitions[i] {
				t.Errorf("sarama murmur2 partitioner: %q over %d -> %d, Java gives %d",
					c.key, n, got, c.partitions[i])
			}
			if def, _ := fnv.Partition(msg, n); def != c.partitions[i] {
				differ++
			}
		}
	}
	// Why the custom partitioner is needed: Sarama's default (FNV-1a) disagrees on most keys.
	if differ == 0 {
		t.Error("Sarama's default partitioner agreed with Java on every key: the test proves nothing")
	}
	t.Logf("Sarama's default FNV-1a partitioner disagrees with Java on %d of %d cases",
		differ, len(known)*len(counts))
}

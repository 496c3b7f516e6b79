package main

import (
	"hash/fnv"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Partitions Kafka's Java client picks: the hashes of the first six keys are the ones Kafka's own
// test of Utils.murmur2 asserts (clients/src/test/java/org/apache/kafka/common/utils/
// UtilsTest.java, testMurmur2); the partitions, toPositive(hash) % n, were computed with this
// repository's Python implementation, which a test holds to aiokafka's
// (streams/core/partitioning.py):
//
//	.venv/bin/python -c 'from streams.core.partitioning import partition_for; ...'
var known = []struct {
	key        string
	partitions [3]int // for 4, 8 and 12 partitions
}{
	{"21", [3]int{0, 4, 0}},                                               // murmur2 -973932308
	{"foobar", [3]int{2, 6, 6}},                                           // -790332482
	{"a-little-bit-long-string", [3]int{0, 0, 8}},                         // -985981536
	{"a-little-bit-longer-string", [3]int{3, 3, 11}},                      // -1486304829
	{"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", [3]int{1, 5, 5}}, // -58897971
	{"abc", [3]int{3, 3, 3}},                                              // 479470107
	{"", [3]int{1, 1, 9}},                                                 // 275646681
	{"alice", [3]int{1, 5, 9}},                                            // 1951417749
	{"héllo-wörld", [3]int{0, 4, 0}},                                      // 1388409540
}

var counts = [3]int{4, 8, 12}

func check(t *testing.T, name string, partition func(key []byte, n int) int) {
	t.Helper()
	for _, c := range known {
		for i, n := range counts {
			if got := partition([]byte(c.key), n); got != c.partitions[i] {
				t.Errorf("%s: %q over %d partitions -> %d, Java's client gives %d",
					name, c.key, n, got, c.partitions[i])
			}
		}
	}
}

// The partitioner the producer configures.
func TestProducerPartitionerMatchesJava(t *testing.T) {
	topic := partitioner().ForTopic("conversation-custom-data-changes")
	check(t, "StickyKeyPartitioner(nil)", func(key []byte, n int) int {
		return topic.Partition(&kgo.Record{Key: key}, n)
	})
}

// franz-go's default partitioner hashes keyed records the same way (its keyed path never
// looks at the backlog, so no backlog is passed).
func TestFranzGoDefaultMatchesJava(t *testing.T) {
	topic := kgo.UniformBytesPartitioner(64<<10, true, true, nil).ForTopic("t")
	backup, ok := topic.(kgo.TopicBackupPartitioner)
	if !ok {
		t.Fatal("UniformBytesPartitioner is no longer a TopicBackupPartitioner")
	}
	check(t, "UniformBytesPartitioner(64<<10, true, true, nil)", func(key []byte, n int) int {
		return backup.PartitionByBackup(&kgo.Record{Key: key}, n, nil)
	})
}

// A Sarama-compatible hasher (what a service moved from Sarama might configure) does not.
func TestSaramaCompatHasherDisagrees(t *testing.T) {
	fnv32a := func(b []byte) uint32 { h := fnv.New32a(); h.Write(b); return h.Sum32() }
	hasher := kgo.SaramaCompatHasher(fnv32a)
	differ := 0
	for _, c := range known {
		for i, n := range counts {
			if hasher([]byte(c.key), n) != c.partitions[i] {
				differ++
			}
		}
	}
	if differ == 0 {
		t.Fatal("Sarama's FNV-1a placed every key like murmur2; the table proves nothing")
	}
	t.Logf("Sarama's FNV-1a disagrees with murmur2 on %d of %d placements", differ, len(known)*len(counts))
}

// Package kafkahash is the Java Kafka client's default partitioner for keyed records
// (org.apache.kafka.common.utils.Utils.murmur2 and toPositive), as a hash.Hash32 that Sarama
// can use. The stream processor recomputes every record's partition this way
// (streams/core/partitioning.py); a record that landed elsewhere is forwarded once, and a
// record that is still misrouted after that is rejected.
//
// Sarama's default HashPartitioner uses FNV-1a and would put most users on the wrong
// partition. Configure the producer with:
//
//	config.Producer.Partitioner = sarama.NewCustomPartitioner(
//		sarama.WithAbsFirst(),                          // (hash & 0x7fffffff) % n, like Java
//		sarama.WithCustomHashFunction(kafkahash.New),    // murmur2, like Java
//	)
package kafkahash

import "hash"

const (
	seed uint32 = 0x9747b28c
	m    uint32 = 0x5bd1e995
	r           = 24
)

// Murmur2 is Kafka's MurmurHash2 of data, as the Java client's Utils.murmur2 returns it (an
// int32, often negative).
func Murmur2(data []byte) int32 {
	length := len(data)
	h := seed ^ uint32(length)
	whole := length &^ 3
	for i := 0; i < whole; i += 4 {
		k := uint32(data[i]) | uint32(data[i+1])<<8 | uint32(data[i+2])<<16 | uint32(data[i+3])<<24
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
	}
	switch length - whole {
	case 3:
		h ^= uint32(data[whole+2]) << 16
		fallthrough
	case 2:
		h ^= uint32(data[whole+1]) << 8
		fallthrough
	case 1:
		h ^= uint32(data[whole])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return int32(h)
}

// ToPositive is the Java client's Utils.toPositive: the sign bit cleared (not an absolute
// value: Sarama's default partitioner takes the absolute value of the remainder instead).
func ToPositive(n int32) int32 {
	return n & 0x7fffffff
}

// Partition is the partition the Java client's default partitioner picks for a non-null key.
func Partition(key []byte, partitions int32) int32 {
	return ToPositive(Murmur2(key)) % partitions
}

// murmur2Hash buffers what is written and hashes it on Sum32: murmur2 is not incremental.
type murmur2Hash struct {
	buf []byte
}

// New returns a hash.Hash32 whose Sum32 is Murmur2 of everything written since the last
// Reset; pass it to sarama.WithCustomHashFunction.
func New() hash.Hash32 {
	return &murmur2Hash{}
}

func (h *murmur2Hash) Write(p []byte) (int, error) {
	h.buf = append(h.buf, p...)
	return len(p), nil
}

func (h *murmur2Hash) Sum32() uint32 { return uint32(Murmur2(h.buf)) }

func (h *murmur2Hash) Sum(b []byte) []byte {
	s := h.Sum32()
	return append(b, byte(s>>24), byte(s>>16), byte(s>>8), byte(s))
}

func (h *murmur2Hash) Reset()         { h.buf = h.buf[:0] }
func (h *murmur2Hash) Size() int      { return 4 }
func (h *murmur2Hash) BlockSize() int { return 4 }

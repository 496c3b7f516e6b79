// The Go examples: franz-go (github.com/twmb/franz-go) from the Go module proxy, pinned here
// and in go.sum. build.sh vets, tests and builds them; `make examples` runs them against Apache
// Kafka and a real worker (../README.md).
module streams-examples

go 1.26.0

require github.com/twmb/franz-go v1.22.3

require (
	github.com/klauspost/compress v1.20.3 // indirect
	github.com/pierrec/lz4/v4 v4.1.33 // indirect
	github.com/twmb/franz-go/pkg/kmsg v1.15.1 // indirect
)

// For building with network access in module mode (not checked here: this workplace has no
// module proxy, and build.sh builds against Debian's Sarama 1.22.1 in GOPATH mode instead):
//   go mod tidy && go build -o bin/ ./...
// Sarama moved to github.com/IBM/sarama after v1.38.1: to use a newer release, replace the
// import path github.com/Shopify/sarama with github.com/IBM/sarama in the .go files.
module streams-examples

go 1.19

require github.com/Shopify/sarama v1.38.1

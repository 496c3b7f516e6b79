#!/usr/bin/env bash
# Build (and unit-test) the Go examples offline against Debian's Sarama:
#   apt-get install -y golang-go golang-github-shopify-sarama-dev
# Debian installs Sarama 1.22.1 and its dependencies as GOPATH source under /usr/share/gocode,
# so this builds in GOPATH mode (GO111MODULE=off), from a throwaway GOPATH in which this folder
# is linked as the package "streams-examples". No module proxy, no network.
# With network access, module mode works too: see go.mod and ../README.md.
# Binaries: examples/go/bin/producer and examples/go/bin/consumer.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
gopath=$(mktemp -d)
trap 'rm -rf "$gopath"' EXIT
mkdir -p "$gopath/src"
ln -s "$here" "$gopath/src/streams-examples"
export GO111MODULE=off GOPROXY=off GOFLAGS= GOPATH="$gopath:/usr/share/gocode"
# Debian's DataDog/zstd (a Sarama dependency) calls a deprecated zstd function: quiet cgo's warning.
export CGO_CFLAGS="${CGO_CFLAGS:--O2 -g} -Wno-deprecated-declarations"
cd "$gopath/src/streams-examples"
# Named one by one: the ... pattern does not follow the symlink.
pkgs="streams-examples/kafkahash streams-examples/producer streams-examples/consumer"
go vet $pkgs
go test $pkgs
go build -o "$here/bin/producer" streams-examples/producer
go build -o "$here/bin/consumer" streams-examples/consumer
echo "built $here/bin/producer and $here/bin/consumer"

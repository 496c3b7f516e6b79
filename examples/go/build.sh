#!/usr/bin/env bash
# Vet, test and build the Go examples (franz-go, pinned in go.mod and go.sum; the go command
# fetches the modules from the Go module proxy once into its module cache and checks them
# against go.sum). Needs Go 1.26 or newer (franz-go v1.22's go.mod asks for it).
# Binaries: examples/go/bin/producer and examples/go/bin/consumer.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
# -mod=readonly: a go.mod or go.sum that no longer fits the code is an error, never rewritten.
export GOFLAGS="${GOFLAGS:+$GOFLAGS }-mod=readonly"
go vet ./...
go test ./...
go build -o "$here/bin/" ./producer ./consumer
echo "built $here/bin/producer and $here/bin/consumer"

#!/usr/bin/env bash
# `make examples`: the Go examples end to end against the real worker, on loopback.
#
# Builds the Go producer and consumer (go/build.sh, Debian's Sarama, offline), starts the
# embedded broker (Tansu), the IM emulator and one worker (as `streams demo` does), publishes N
# changes with the Go producer (murmur2 partitioner), reads their outcomes with the Go consumer
# (deduplicated by source) and checks them (check_outcomes.py): every record on
# the partition the Java client would pick, one outcome per record, all `applied` or superseded
# by an applied change, no misrouted forward. Everything it started is stopped on exit, failure
# or interrupt; the logs stay in the printed work folder when it fails.
#
#   examples/run.sh            N=200 changes, 4 partitions
#   N=1000 examples/run.sh
#   PARTITIONER=sarama-default examples/run.sh   # Sarama's FNV-1a default: the check must fail
set -euo pipefail

N=${N:-200}
PARTITIONS=${PARTITIONS:-4}
PARTITIONER=${PARTITIONER:-murmur2}
TIMEOUT_S=${TIMEOUT_S:-120}
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
venv=$root/.venv/bin
work=$(mktemp -d -t streams-examples-XXXXXX)
changes=conversation-custom-data-changes
outcomes=conversation-custom-data-outcomes
dead_letters=conversation-custom-data-dead-letters

pids=()  # started here, stopped in reverse order: worker, emulator, broker
stop() {
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null || return 0
    for i in $(seq 150); do  # 30 s, then SIGKILL
        kill -0 "$pid" 2>/dev/null || return 0
        [[ $(ps -o stat= -p "$pid" 2>/dev/null) == Z* ]] && return 0
        sleep 0.2
    done
    echo "run.sh: $pid did not stop on SIGTERM; killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
}
cleanup() {
    local status=$? i
    trap - EXIT INT TERM
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do stop "${pids[i]}"; done
    wait 2>/dev/null || true
    if ((status == 0)); then
        rm -rf "$work"
    else
        echo "FAILED (exit $status); logs in $work:" >&2
        for log in "$work"/*.log; do
            [[ -s $log ]] && { echo "--- tail of $log" >&2; tail -n 15 "$log" >&2; }
        done
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# wait_for LOG REGEX SECONDS PID: print the first match of REGEX (sed -E, group 1) in LOG.
wait_for() {
    local log=$1 regex=$2 seconds=$3 pid=$4 found i
    for ((i = 0; i < seconds * 10; i++)); do
        found=$(sed -nE "s#.*$regex.*#\\1#p" "$log" 2>/dev/null | head -n 1)
        if [[ -n $found ]]; then echo "$found"; return 0; fi
        kill -0 "$pid" 2>/dev/null || { echo "run.sh: process $pid exited; see $log" >&2; return 1; }
        sleep 0.1
    done
    echo "run.sh: nothing matching '$regex' in $log after ${seconds}s" >&2
    return 1
}

# Go and Debian's Sarama (GOPATH source under /usr/share/gocode), installed when missing.
need=()
command -v go >/dev/null || need+=(golang-go)
[[ -d /usr/share/gocode/src/github.com/Shopify/sarama ]] || need+=(golang-github-shopify-sarama-dev)
if ((${#need[@]})); then
    sudo=()
    ((EUID == 0)) || sudo=(sudo)
    echo "== installing ${need[*]} (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get install -y -qq "${need[@]}" >"$work/apt.log" 2>&1 \
        || { "${sudo[@]}" apt-get update -qq && "${sudo[@]}" apt-get install -y -qq "${need[@]}"; }
fi

echo "== building the Go examples"
"$here/go/build.sh"

echo "== starting the embedded broker, the IM emulator and a worker (work folder $work)"
"$venv/streams" broker >"$work/broker.log" 2>&1 &
pids+=($!)
bootstrap=$(wait_for "$work/broker.log" 'broker listening on ([0-9.]+:[0-9]+)' 30 "${pids[-1]}")
echo "broker: $bootstrap (Tansu)"
"$venv/python" - "$bootstrap" "$PARTITIONS" "$changes" "$outcomes" "$dead_letters" <<'PY'
import asyncio, sys
from streams_devkit.broker import create_topics
bootstrap, partitions, *topics = sys.argv[1:]
asyncio.run(create_topics(bootstrap, dict.fromkeys(topics, int(partitions))))
PY

secret=$("$venv/python" -c 'import secrets; print(secrets.token_hex(16))')
export STREAMS_IM_SDKAPPID=1400000000 STREAMS_IM_ADMIN=administrator STREAMS_IM_SECRET_KEY=$secret
"$venv/streams" emulator --port 0 --db "$work/im.sqlite3" >"$work/emulator.log" 2>&1 &
pids+=($!)
im_url=$(wait_for "$work/emulator.log" 'emulator listening on (http://127\.0\.0\.1:[0-9]+)' 30 "${pids[-1]}")
echo "IM emulator: $im_url"

web_port=$("$venv/python" -c 'from streams_devkit.broker import free_port; print(free_port())')
STREAMS_BROKER=kafka://$bootstrap STREAMS_SDK=tencent STREAMS_IM_ENDPOINT=$im_url \
STREAMS_EMBEDDED_BROKER=true STREAMS_TABLE_STORE=memory:// STREAMS_DATA_DIR=$work/worker-data \
STREAMS_WEB_PORT=$web_port STREAMS_TOPIC_PARTITIONS=$PARTITIONS \
STREAMS_APP_ID=go-examples-$$ \
    "$venv/streams" worker >"$work/worker.log" 2>&1 &
pids+=($!)
worker=${pids[-1]}
for ((i = 0; ; i++)); do
    curl -sf "http://127.0.0.1:$web_port/readyz" >/dev/null 2>&1 && break
    kill -0 "$worker" 2>/dev/null || { echo "run.sh: the worker exited" >&2; exit 1; }
    ((i < 600)) || { echo "run.sh: the worker was not ready after 60 s" >&2; exit 1; }
    sleep 0.1
done
echo "worker: ready (metrics on http://127.0.0.1:$web_port/metrics)"

echo "== Go producer: $N changes, keyed by user_id, $PARTITIONER partitioner"
"$here/go/bin/producer" -brokers "$bootstrap" -topic "$changes" -n "$N" -users 40 \
    -conversations 3 -partitioner "$PARTITIONER" >"$work/published.jsonl"
head -n 3 "$work/published.jsonl"

# -no-group: Sarama 1.22 (Debian's) cannot join a group on Tansu (go/consumer/main.go says why);
# against Apache Kafka the consumer runs as a member of a consumer group (its default).
echo "== Go consumer: outcomes deduplicated by source, first final outcome wins"
"$here/go/bin/consumer" -brokers "$bootstrap" -topic "$outcomes" -no-group \
    -expect "$N" -timeout "${TIMEOUT_S}s" >"$work/outcomes.jsonl"
head -n 3 "$work/outcomes.jsonl"
kill -0 "$worker" 2>/dev/null || { echo "run.sh: the worker exited" >&2; exit 1; }
curl -sf "http://127.0.0.1:$web_port/metrics" >"$work/metrics.txt"

echo "== checking"
"$venv/python" "$here/check_outcomes.py" "$work/published.jsonl" "$work/outcomes.jsonl" \
    "$PARTITIONS" "$work/metrics.txt"

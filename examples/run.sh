#!/usr/bin/env bash
# `make examples`: clients from three ecosystems against Apache Kafka and a real worker, on
# loopback.
#
# Builds the Java examples (Maven, kafka-clients 4.4.0) and the Go examples (franz-go from the Go
# module proxy), starts Apache Kafka (`streams kafka`, the devkit's KRaft launcher, the version
# pinned in devkit/kafka/pom.xml), the IM emulator and one worker (production transport: no
# STREAMS_EMBEDDED_BROKER), then runs each client in turn: its producer publishes N changes keyed
# by user_id, its consumer reads their outcomes in a consumer group of its own (deduplicated by
# source), and check_outcomes.py checks routing, the worker's forwards, one outcome per record,
# the statuses and last-write-wins in the IM emulator. Each client uses ids of its own (its
# run id), so the clients never touch each other's conversations.
#
#   client              partitioner                          forwards expected
#   java                kafka-clients' default (murmur2)     0
#   go                  kgo.StickyKeyPartitioner(nil)        0
#   confluent-murmur2   librdkafka partitioner=murmur2_random 0
#   confluent-default   librdkafka's default consistent_random  one per misrouted record (> 0)
#
# Everything it started is stopped on exit, failure or interrupt; the logs and outputs stay in the
# printed work folder when it fails.
#
#   examples/run.sh                      N=200 changes per client, 4 partitions
#   N=1000 examples/run.sh
#   CLIENTS="go confluent-default" examples/run.sh
set -euo pipefail

N=${N:-200}
PARTITIONS=${PARTITIONS:-4}
TIMEOUT_S=${TIMEOUT_S:-120}
CLIENTS=${CLIENTS:-java go confluent-murmur2 confluent-default}
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
venv=$root/.venv/bin
work=$(mktemp -d -t streams-examples-XXXXXX)
changes=conversation-custom-data-changes
outcomes=conversation-custom-data-outcomes
dead_letters=conversation-custom-data-dead-letters

pids=()  # started here, stopped in reverse order: worker, emulator, Kafka
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
        echo "FAILED (exit $status); logs and outputs in $work:" >&2
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

for tool in java mvn go; do
    command -v "$tool" >/dev/null || {
        echo "run.sh: \`$tool\` is missing: the examples need Java 17+, Maven 3.8+ and Go 1.21+" \
            "(Go fetches the 1.26 toolchain go.mod asks for from the module proxy)" >&2
        exit 1
    }
done
"$venv/python" -c 'import confluent_kafka' 2>/dev/null || {
    echo "run.sh: confluent-kafka is not in .venv: \`make\` installs requirements/dev.lock" >&2
    exit 1
}

echo "== building the Java examples (Maven, kafka-clients)"
# Its output to a log (Maven 3.8 writes terminal escapes even with -q); the log's tail on failure.
mvn -q -B -f "$here/java/pom.xml" package dependency:copy-dependencies >"$work/maven.log" 2>&1
java_cp="$here/java/target/classes:$here/java/target/lib/*"
echo "== building the Go examples (franz-go)"
"$here/go/build.sh"

echo "== starting Apache Kafka, the IM emulator and a worker (work folder $work)"
"$venv/streams" kafka >"$work/kafka.log" 2>&1 &
pids+=($!)
bootstrap=$(wait_for "$work/kafka.log" 'kafka listening on ([0-9.]+:[0-9]+)' 180 "${pids[-1]}")
echo "kafka: $bootstrap ($(sed -nE 's/.*starting (Apache Kafka [^ ]+).*/\1/p' "$work/kafka.log"))"
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
env -u STREAMS_EMBEDDED_BROKER \
    STREAMS_BROKER=kafka://$bootstrap STREAMS_SDK=tencent STREAMS_IM_ENDPOINT=$im_url \
    STREAMS_TABLE_STORE=memory:// STREAMS_DATA_DIR=$work/worker-data \
    STREAMS_WEB_PORT=$web_port STREAMS_TOPIC_PARTITIONS=$PARTITIONS \
    STREAMS_APP_ID=examples-$$ \
    "$venv/streams" worker >"$work/worker.log" 2>&1 &
pids+=($!)
worker=${pids[-1]}
for ((i = 0; ; i++)); do
    curl -sf "http://127.0.0.1:$web_port/readyz" >/dev/null 2>&1 && break
    kill -0 "$worker" 2>/dev/null || { echo "run.sh: the worker exited" >&2; exit 1; }
    ((i < 1200)) || { echo "run.sh: the worker was not ready after 120 s" >&2; exit 1; }
    sleep 0.1
done
metrics=http://127.0.0.1:$web_port/metrics
echo "worker: ready (metrics on $metrics)"

# produce CLIENT RUN_ID: N changes on stdout, one {"event_id","key","partition","offset"} each.
produce() {
    local common=(--brokers "$bootstrap" --topic "$changes" --n "$N" --users 40 --conversations 3
                  --run-id "$2")
    case $1 in
        java) java -cp "$java_cp" streams.examples.ProduceChanges "${common[@]}" ;;
        go) "$here/go/bin/producer" "${common[@]}" ;;
        confluent-murmur2)
            "$venv/python" "$here/python/confluent_client.py" produce "${common[@]}" \
                --partitioner murmur2_random ;;
        confluent-default)
            "$venv/python" "$here/python/confluent_client.py" produce "${common[@]}" \
                --partitioner default ;;
        *) echo "run.sh: unknown client $1" >&2; return 2 ;;
    esac
}
# consume CLIENT RUN_ID: the run's deduplicated outcomes on stdout, read in a consumer group.
consume() {
    local common=(--brokers "$bootstrap" --topic "$outcomes" --group "examples-$2"
                  --event-prefix "$2-" --expect "$N" --timeout-s "$TIMEOUT_S")
    case $1 in
        java) java -cp "$java_cp" streams.examples.ConsumeOutcomes "${common[@]}" ;;
        go) "$here/go/bin/consumer" "${common[@]}" ;;
        confluent-*) "$venv/python" "$here/python/confluent_client.py" consume "${common[@]}" ;;
    esac
}

failed=()
summary=()
for client in $CLIENTS; do
    run_id=$client-$$
    misrouted=none
    [[ $client == confluent-default ]] && misrouted=some
    echo "== $client: $N changes keyed by user_id (run id $run_id)"
    before=$("$venv/python" "$here/check_outcomes.py" forwards "$metrics")
    produce "$client" "$run_id" >"$work/$client.published.jsonl" 2> >(tee "$work/$client.producer.log" >&2)
    head -n 2 "$work/$client.published.jsonl"
    echo "-- $client: outcomes in consumer group examples-$run_id, deduplicated by source"
    consume "$client" "$run_id" >"$work/$client.outcomes.jsonl" 2> >(tee "$work/$client.consumer.log" >&2)
    kill -0 "$worker" 2>/dev/null || { echo "run.sh: the worker exited" >&2; exit 1; }
    echo "-- $client: checking (misrouted records expected: $misrouted)"
    if "$venv/python" "$here/check_outcomes.py" check --published "$work/$client.published.jsonl" \
        --outcomes "$work/$client.outcomes.jsonl" --partitions "$PARTITIONS" \
        --metrics-url "$metrics" --forwards-before "$before" --im-url "$im_url" \
        --misrouted "$misrouted" | tee "$work/$client.check.txt"; then
        result=OK
    else
        result=FAILED
        failed+=("$client")
    fi
    summary+=("$(printf '%-18s %s' "$client" \
        "$(sed -nE 's/^worker: ([0-9]+) misrouted.*/\1 forwards/p' "$work/$client.check.txt"), $(
        sed -nE 's/^outcomes: (.*) \(.*/\1/p' "$work/$client.check.txt") $result")")
done

echo "== summary ($N changes per client, $PARTITIONS partitions)"
printf '%s\n' "${summary[@]}"
if ((${#failed[@]})); then
    echo "FAILED: ${failed[*]}" >&2
    exit 1
fi
echo "OK"

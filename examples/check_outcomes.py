"""Check a run of the Go examples (examples/run.sh): routing, completeness and statuses.

    check_outcomes.py PUBLISHED OUTCOMES PARTITIONS [METRICS]

PUBLISHED: the Go producer's output, one {"event_id", "key", "partition", "offset"} per record.
OUTCOMES: the Go consumer's output, outcomes deduplicated by source (a later line for the same
source is a final outcome replacing an earlier non-final one). METRICS: the worker's /metrics.

It checks that
* the producer put every record on the partition Kafka's Java default partitioner picks (this
  repository's streams.core.partitioning.partition_for, the worker's own routing rule);
* every published record has exactly one outcome (by source), naming its event_id;
* each outcome is `applied`, or `superseded` by a later change to the same conversation whose
  own outcome is `applied` (or superseded in turn, ending in `applied`);
* the worker forwarded no misrouted event (streams_misrouted_forwards_total is 0).
Run it with the repository's .venv python. Exits 1 on any failure.
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from pathlib import Path

from streams.core.partitioning import partition_for

TOPIC = "conversation-custom-data-changes"


def lines(path: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def main(argv: list[str]) -> int:
    published_path, outcomes_path, partitions = argv[1], argv[2], int(argv[3])
    metrics_path = argv[4] if len(argv) > 4 else None
    errors: list[str] = []

    published = lines(published_path)
    by_position: dict[tuple[int, int], dict[str, object]] = {}
    for record in published:
        key = str(record["key"]).encode()
        expected = partition_for(key, partitions)
        if record["partition"] != expected:
            errors.append(
                f"{record['event_id']}: key {record['key']!r} went to partition "
                f"{record['partition']}, murmur2 says {expected}"
            )
        by_position[(int(record["partition"]), int(record["offset"]))] = record
    print(
        f"routing: {len(published) - len(errors)} of {len(published)} records on the "
        f"partition the Java client's murmur2 picks ({partitions} partitions)"
    )

    kept: dict[tuple[int, int], dict[str, object]] = {}
    for outcome in lines(outcomes_path):
        source = outcome["source"]
        assert isinstance(source, dict)
        if source["topic"] != TOPIC:
            errors.append(f"outcome for another topic: {source}")
            continue
        kept[(source["partition"], source["offset"])] = outcome  # a later line replaces
    missing = by_position.keys() - kept.keys()
    extra = kept.keys() - by_position.keys()
    if missing:
        errors.append(
            f"{len(missing)} published records have no outcome, e.g. {sorted(missing)[:5]}"
        )
    if extra:
        errors.append(
            f"{len(extra)} outcomes for records this run did not publish, e.g. {sorted(extra)[:5]}"
        )

    by_event = {str(o["event_id"]): o for o in kept.values()}
    for position, outcome in kept.items():
        record = by_position.get(position)
        if record is not None and outcome["event_id"] != record["event_id"]:
            errors.append(
                f"{position}: outcome names {outcome['event_id']}, published {record['event_id']}"
            )
        status = outcome["status"]
        if status == "applied":
            continue
        if status != "superseded":
            errors.append(
                f"{outcome['event_id']}: {status} ({outcome.get('reason')}, {outcome.get('info')})"
            )
            continue
        # Follow superseded_by to an applied change of the same conversation.
        seen = {str(outcome["event_id"])}
        current = outcome
        while current["status"] == "superseded":
            winner = by_event.get(str(current["superseded_by"]))
            if winner is None or str(winner["event_id"]) in seen:
                errors.append(
                    f"{outcome['event_id']}: superseded by {current['superseded_by']}, "
                    "which has no outcome in this run"
                )
                break
            if winner["conversation_id"] != outcome["conversation_id"]:
                errors.append(
                    f"{outcome['event_id']}: superseded by a change to another "
                    f"conversation ({winner['conversation_id']})"
                )
                break
            seen.add(str(winner["event_id"]))
            current = winner
        else:
            if current["status"] != "applied":
                errors.append(
                    f"{outcome['event_id']}: superseded by {current['event_id']}, "
                    f"which is {current['status']}"
                )
    statuses = Counter(str(o["status"]) for o in kept.values())
    print(
        "outcomes: "
        + ", ".join(f"{n} {s}" for s, n in sorted(statuses.items()))
        + f" ({len(kept)} sources)"
    )

    if metrics_path is not None:
        text = Path(metrics_path).read_text()
        found = re.search(r"^streams_misrouted_forwards_total(?:\{[^}]*\})? (\S+)$", text, re.M)
        if found is None:
            errors.append("the worker's metrics have no streams_misrouted_forwards_total")
        else:
            forwards = float(found.group(1))
            print(f"worker: {forwards:.0f} misrouted events forwarded")
            if forwards:
                errors.append(f"the worker forwarded {forwards:.0f} misrouted events")

    for error in errors[:20]:
        print(f"FAIL {error}", file=sys.stderr)
    if errors:
        print(f"FAILED: {len(errors)} problems", file=sys.stderr)
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

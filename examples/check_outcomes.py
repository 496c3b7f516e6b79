"""Check one client's run in `make examples` (examples/run.sh): routing, outcomes, forwards, IM.

    check_outcomes.py forwards METRICS_URL
        prints the worker's streams_misrouted_forwards_total (run before a client publishes)
    check_outcomes.py check --published P --outcomes O --partitions N
                            --metrics-url URL --forwards-before F --im-url URL
                            --misrouted none|some

PUBLISHED: the producer's output, one {"event_id", "key", "partition", "offset"} per record.
OUTCOMES: the consumer's output, outcomes deduplicated by source (a later line for the same
source is a correction, marked ``"corrects": true``: a final outcome replacing a non-final one,
or an ``applied`` replacing a ``failed``; the last line of a source is its outcome). It checks
that

* routing: with ``--misrouted none`` every record is on the partition Kafka's Java client picks
  (this repository's streams.core.partitioning.partition_for, the worker's own rule); with
  ``--misrouted some`` at least one is not (a client left on a non-murmur2 partitioner);
* forwards: the worker's streams_misrouted_forwards_total grew by exactly the number of
  misrouted records (each forwarded once; 0 for a murmur2 client);
* every published record has exactly one outcome (by source), naming its event_id;
* each outcome is `applied`, or `superseded` by a later change to the same conversation whose
  own outcome is `applied` (or superseded in turn, ending in `applied`);
* last write wins: per conversation, the change with the greatest (version, occurred_at) is
  `applied`, and the IM emulator holds its custom_data.

Run it with the repository's .venv python. Exits 1 on any failure, naming each problem.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
import urllib.parse
import urllib.request
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

from streams.core.partitioning import partition_for

TOPIC = "conversation-custom-data-changes"
FORWARDS = re.compile(r"^streams_misrouted_forwards_total(?:\{[^}]*\})? (\S+)$", re.M)
#: How long the forwards counter may lag behind the outcomes (it is added up after each window).
FORWARDS_SETTLE_S = 10.0


def lines(path: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - loopback http
        body: bytes = response.read()
        return body


def forwards(metrics_url: str) -> int:
    found = FORWARDS.search(get(metrics_url).decode())
    if found is None:
        raise SystemExit(f"the worker's metrics at {metrics_url} have no forwards counter")
    return round(float(found.group(1)))


def check_routing(
    published: list[dict[str, Any]], partitions: int, misrouted_expected: str, errors: list[str]
) -> int:
    misrouted = [
        r for r in published if r["partition"] != partition_for(str(r["key"]).encode(), partitions)
    ]
    print(
        f"routing: {len(published) - len(misrouted)} of {len(published)} records on the "
        f"partition the Java client's murmur2 picks ({partitions} partitions), "
        f"{len(misrouted)} elsewhere"
    )
    if misrouted_expected == "none":
        for record in misrouted[:5]:
            errors.append(
                f"{record['event_id']}: key {record['key']!r} went to partition "
                f"{record['partition']}, murmur2 says "
                f"{partition_for(str(record['key']).encode(), partitions)}"
            )
        if len(misrouted) > 5:
            errors.append(f"... {len(misrouted)} misrouted records in all")
    elif not misrouted:
        errors.append("every record is on its murmur2 partition: this run shows no forwarding")
    return len(misrouted)


def check_forwards(metrics_url: str, before: int, misrouted: int, errors: list[str]) -> None:
    deadline = time.monotonic() + FORWARDS_SETTLE_S
    while True:
        grown = forwards(metrics_url) - before
        if grown >= misrouted or time.monotonic() >= deadline:
            break
        time.sleep(0.2)
    print(f"worker: {grown} misrouted events forwarded")
    if grown != misrouted:
        errors.append(f"the worker forwarded {grown} events, {misrouted} were misrouted")


def check_statuses(kept: dict[tuple[int, int], dict[str, Any]], errors: list[str]) -> None:
    by_event = {str(o["event_id"]): o for o in kept.values()}
    for outcome in kept.values():
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


def order(outcome: dict[str, Any]) -> tuple[int, datetime, int]:
    """The last-write-wins order (docs/CONTRACT.md): version (or -1), occurred_at, offset."""
    version = outcome["version"]
    occurred_at = datetime.fromisoformat(str(outcome["occurred_at"]))
    return (-1 if version is None else int(version), occurred_at, int(outcome["source"]["offset"]))


def check_last_write_wins(
    kept: dict[tuple[int, int], dict[str, Any]], im_url: str, errors: list[str]
) -> None:
    last: dict[tuple[str, str], dict[str, Any]] = {}
    for outcome in kept.values():
        conversation = (str(outcome["user_id"]), str(outcome["conversation_id"]))
        if conversation not in last or order(outcome) > order(last[conversation]):
            last[conversation] = outcome
    by_user: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for (user, _), outcome in last.items():
        by_user[user].append(outcome)
    holding = 0
    for user, winners in sorted(by_user.items()):
        query = urllib.parse.urlencode({"user": user})
        state = json.loads(get(f"{im_url}/debug/state?{query}"))
        for winner in winners:
            conversation = winner["conversation_id"]
            if winner["status"] != "applied":
                errors.append(f"{winner['event_id']}: the last write is {winner['status']}")
            elif state.get(conversation) != winner["custom_data"]:
                errors.append(
                    f"{user} {conversation}: the IM holds {state.get(conversation)!r}, "
                    f"the last write ({winner['event_id']}) is {winner['custom_data']!r}"
                )
            else:
                holding += 1
    print(f"IM: {holding} of {len(last)} conversations hold their last write")


def check(args: argparse.Namespace) -> int:
    errors: list[str] = []
    published = lines(args.published)
    misrouted = check_routing(published, args.partitions, args.misrouted, errors)
    check_forwards(args.metrics_url, args.forwards_before, misrouted, errors)

    by_position = {(int(r["partition"]), int(r["offset"])): r for r in published}
    kept: dict[tuple[int, int], dict[str, Any]] = {}
    for outcome in lines(args.outcomes):
        source = outcome["source"]
        if source["topic"] != args.topic:
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
    for position, outcome in kept.items():
        record = by_position.get(position)
        if record is not None and outcome["event_id"] != record["event_id"]:
            errors.append(
                f"{position}: outcome names {outcome['event_id']}, published {record['event_id']}"
            )
    check_statuses(kept, errors)
    statuses = Counter(str(o["status"]) for o in kept.values())
    print(
        "outcomes: "
        + ", ".join(f"{n} {s}" for s, n in sorted(statuses.items()))
        + f" ({len(kept)} sources)"
    )
    check_last_write_wins(kept, args.im_url, errors)

    for error in errors[:20]:
        print(f"FAIL {error}", file=sys.stderr)
    if errors:
        print(f"FAILED: {len(errors)} problems", file=sys.stderr)
        return 1
    print("OK")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    commands = parser.add_subparsers(dest="command", required=True)
    fwd = commands.add_parser("forwards", help="print the worker's forwards counter")
    fwd.add_argument("metrics_url")
    chk = commands.add_parser("check", help="check one client's run")
    chk.add_argument("--published", required=True)
    chk.add_argument("--outcomes", required=True)
    chk.add_argument("--partitions", type=int, required=True)
    chk.add_argument("--topic", default=TOPIC)
    chk.add_argument("--metrics-url", required=True)
    chk.add_argument("--forwards-before", type=int, required=True)
    chk.add_argument("--im-url", required=True)
    chk.add_argument("--misrouted", choices=["none", "some"], required=True)
    args = parser.parse_args(argv)
    if args.command == "forwards":
        print(forwards(args.metrics_url))
        return 0
    return check(args)


if __name__ == "__main__":
    sys.exit(main())

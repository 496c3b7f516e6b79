"""Records that fail inside the fetch, before the window, through a broker to a real worker.

aiokafka reads fetched batches on the consumer thread, inside ``getmany``: a header name that is
not UTF-8 raised ``UnicodeDecodeError`` there, and a gzip bomb was inflated whole there, both
before any record reached the window that contains bad input. The worker exited on every start
(or was OOM-killed) and the partition stopped for good. The batches are written byte by byte
(tests.fixtures.raw_batches) and appended as they are; after them the worker must still run,
and every position must have exactly one outcome, the bad ones dead-lettered by position.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from streams.contract import Outcome
from streams.core.dead_letters import SOURCE_HEADERS
from streams.core.partitioning import partition_for
from tests.fixtures.pipeline import PARTITIONS, MakePipeline, Pipeline
from tests.fixtures.raw_batches import gzip_bomb, plain, produce_batches, record

#: The smallest bound the worker accepts; the bomb inflates to 128 times it.
BOUND = 1024 * 1024
BOMB = 128 * BOUND
#: How much the bomb may raise the worker's peak memory: what inflating up to the bound and a
#: window's work take, far below the bomb (without a bound, the worker's peak rose by 2-3 times
#: the bomb, and a 900 MB one OOM-killed a 1 GiB pod).
PEAK_GROWTH = 32 * BOUND
USER = b"alice"


def change(event_id: str) -> bytes:
    occurred = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    doc = {"event_id": event_id, "user_id": USER.decode(), "conversation_id": f"c2c_{event_id}",
           "custom_data": f"value of {event_id}", "occurred_at": occurred}  # fmt: skip
    return orjson.dumps(doc)


def started(pipe: Pipeline) -> tuple[int, int]:
    """A worker that has given a first change its outcome (so the partition has a leader and
    the worker is past its first window); that change's position."""
    pipe.start_worker()
    [first] = pipe.publish(change("first"))
    pipe.outcomes_for({first})
    return first


def append(pipe: Pipeline, batches: list[bytes]) -> tuple[int, int]:
    """Append raw batches to the user's partition; the partition and the first base offset."""
    partition = partition_for(USER, PARTITIONS)
    offsets = asyncio.run(produce_batches(pipe.bootstrap, pipe.changes, partition, batches))
    return partition, offsets[0]


def one_outcome_each(pipe: Pipeline, positions: list[tuple[int, int]]) -> dict[Any, Any]:
    docs = pipe.outcomes_for(set(positions))
    mine = [d for d in docs if (d["source"]["partition"], d["source"]["offset"]) in positions]
    by_position = {(d["source"]["partition"], d["source"]["offset"]): d for d in mine}
    assert len(mine) == len(by_position) == len(positions), mine
    for doc in mine:
        Outcome.model_validate(doc)
    return by_position


def peak_rss(pipe: Pipeline) -> int:
    """The worker process's peak resident memory so far (Linux's VmHWM), in bytes."""
    status = Path(f"/proc/{pipe.workers[0].pid}/status").read_text()
    [line] = [line for line in status.splitlines() if line.startswith("VmHWM:")]
    return int(line.split()[1]) * 1024


def assert_alive(pipe: Pipeline) -> None:
    assert pipe.workers[0].poll() is None, f"the worker exited:\n{pipe.worker_log(0)[-3000:]}"
    assert "Traceback" not in pipe.worker_log(0), pipe.worker_log(0)[-3000:]


def test_a_non_utf8_header_name_is_dead_lettered_and_the_partition_goes_on(
    reliable_pipeline: MakePipeline,
) -> None:
    pipe, _ = reliable_pipeline()
    started(pipe)
    bad_value = change("bad-header")
    partition, base = append(pipe, [plain([
        record(0, USER, change("before")),
        record(1, USER, bad_value, [(b"trace-id", b"1"), (b"\xff\xfe\x00", b"raw")]),
        record(2, USER, change("between")),
    ])])  # fmt: skip
    [later] = pipe.publish(change("later"))
    positions = [(partition, base + i) for i in range(3)] + [later]
    outcomes = one_outcome_each(pipe, positions)
    statuses = [outcomes[p]["status"] for p in positions]
    assert statuses == ["applied", "rejected", "applied", "applied"], outcomes
    bad = outcomes[positions[1]]
    assert (bad["reason"], bad["info"]) == (
        "unparseable",
        "header name b'\\xff\\xfe\\x00' is not UTF-8",
    )
    [letter] = pipe.dead_letter_records(1)
    headers = dict(letter.headers)
    assert set(headers) == set(SOURCE_HEADERS)
    assert (letter.key, letter.value) == (USER, bad_value), "the record's own bytes"
    assert headers["source-offset"] == str(base + 1).encode()
    assert_alive(pipe)


def test_a_decompression_bomb_is_dead_lettered_by_position_and_the_partition_goes_on(
    reliable_pipeline: MakePipeline,
) -> None:
    pipe, _ = reliable_pipeline(worker_env={"STREAMS_MAX_INFLATED_BATCH_BYTES": str(BOUND)})
    started(pipe)
    before = peak_rss(pipe)
    bomb = gzip_bomb(BOMB)
    partition, base = append(pipe, [plain([record(0, USER, change("before"))]), bomb])
    [later] = pipe.publish(change("after-bomb"))
    positions = [(partition, base), (partition, base + 1), later]
    outcomes = one_outcome_each(pipe, positions)
    growth = peak_rss(pipe) - before
    assert growth < PEAK_GROWTH, f"the worker's peak memory rose by {growth} bytes"
    assert [outcomes[p]["status"] for p in positions] == ["applied", "rejected", "applied"]
    refused = outcomes[positions[1]]
    assert refused["reason"] == "unparseable"
    assert f"gzip data inflates past {BOUND} bytes" in refused["info"], refused
    [letter] = pipe.dead_letter_records(1)
    headers = dict(letter.headers)
    assert (letter.key, letter.value) == (None, b""), "by position: nothing was inflated"
    assert headers["source-offset"] == str(base + 1).encode()
    assert headers["error"].decode() == refused["info"]
    assert_alive(pipe)

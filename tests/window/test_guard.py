"""The crash guard's control flow, with a stand-in processor and table (no Faust, no broker):
crashes counted per partition, suspects quarantined alone, infrastructure never blamed."""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka.errors import (
    KafkaTimeoutError,
)
from faust.exceptions import ProducerSendError

from streams.core.fitting import MIN_MAX_BYTES
from streams.engine.errors import is_client_failure
from streams.window.guard import CrashGuard
from streams.window.ports import Event
from streams.window.processor import WindowStats
from tests.fakes import FailingProcessor, Table, broker_error


def events(*offsets: int, partition: int = 0) -> list[Any]:
    return [
        SimpleNamespace(message=SimpleNamespace(topic="t", partition=partition, offset=o))
        for o in offsets
    ]


def guard(processor: FailingProcessor, table: Table, threshold: int = 3) -> CrashGuard:
    return CrashGuard(
        processor, table, threshold=threshold, set_current_event=lambda e: None,
        owns=lambda p: True, client_failure=is_client_failure,
    )  # fmt: skip


async def crash(g: CrashGuard, window: list[Any]) -> None:
    with pytest.raises(RuntimeError):
        await g.process(window)


async def test_crashes_are_counted_then_the_bad_record_is_quarantined_alone() -> None:
    processor, table = FailingProcessor(bad={3}), Table()
    g = guard(processor, table)
    for _ in range(3):
        await crash(g, events(1, 2, 3, 4))
    assert table["t:0"] == [1, 4, 3, "RuntimeError"]
    windows = await g.process(events(1, 2, 3, 4, 5))
    assert processor.windows == [[5], [1], [2], [4]], "the rest as a batch, suspects alone"
    assert processor.quarantined == [(3, None)]
    assert sum(len(acked) for acked, _ in windows) == 5 and not table, "range forgotten"


async def test_two_bad_records_in_one_partition_are_both_quarantined() -> None:
    processor, table = FailingProcessor(bad={105, 140}), Table()
    g = guard(processor, table)
    for _ in range(3):
        await crash(g, events(*range(100, 111)))
    for _ in range(10):
        try:
            await g.process(events(*range(100, 151)))
            break
        except RuntimeError:
            continue
    assert sorted(o for o, _ in processor.quarantined) == [105, 140]


async def test_infrastructure_failures_are_not_counted() -> None:
    class Down(FailingProcessor):
        async def process(self, events: Sequence[Event]) -> tuple[list[Event], WindowStats]:
            raise broker_error(KafkaTimeoutError())

    table = Table()
    with pytest.raises(ProducerSendError):
        await guard(Down(bad=set()), table).process(events(1, 2))
    assert not table


async def test_a_failing_dead_letter_falls_back_to_the_smallest_one() -> None:
    processor, table = FailingProcessor(bad={2}, dead_letter_fails=1), Table()
    table["t:0"] = [2, 2, 3, "RuntimeError"]
    await guard(processor, table).process(events(1, 2))
    assert processor.quarantined == [(2, MIN_MAX_BYTES)]


async def test_a_failing_fallback_is_recorded_like_any_crash() -> None:
    processor, table = FailingProcessor(bad={2}, dead_letter_fails=2), Table()
    table["t:0"] = [2, 2, 3, "RuntimeError"]
    with pytest.raises(ProducerSendError):
        await guard(processor, table).process(events(1, 2))
    assert table["t:0"] == [2, 2, 4, "ProducerSendError"], "counted, still isolating offset 2"


async def test_a_crash_in_one_partition_leaves_another_partitions_range_alone() -> None:
    """Partition 0 is in quarantine (offset 12); partition 1's bad record (31) crashes a window.

    Sharing that window, partition 0's other records would widen its range to 10..14 and count
    a crash that was not theirs; run apart, they pass, and only partition 1 is blamed.
    """
    processor, table = FailingProcessor(bad={12, 31}), Table()
    table["t:0"] = [12, 12, 3, "RuntimeError"]
    with pytest.raises(RuntimeError):
        await guard(processor, table).process(
            events(10, 11, 12, 13, 14) + events(30, 31, 32, partition=1)
        )
    assert table["t:0"] == [12, 12, 3, "RuntimeError"]
    assert table["t:1"] == [30, 32, 1, "RuntimeError"]

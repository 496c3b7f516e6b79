"""The worker's consumer must never commit an offset the agent has not acked.

Faust fills every jump it sees in a partition's offsets with a "gap" and treats the gap as acked
(meant for compacted or transactional topics). The changes topic is neither, so a jump only
happens when Faust itself dropped messages -- which it does around rebalances and start-up (a
fetch from before the seek to the committed offsets, or a read offset written back after the
partitions were revoked: see docs/RELIABILITY.md, "Findings"). The gap then commits past events
that never got an outcome: they are lost. The crash and rebalance tests catch that end to end,
by chance; this checks the commit rule itself, deterministically, on the consumer the worker
really builds (both transports).
"""

from __future__ import annotations

from typing import Any

import pytest
from faust.types import TP

from streams.app import create_app
from streams.settings import Settings


@pytest.mark.parametrize("embedded", [True, False], ids=["tansu", "kafka"])
async def test_offsets_skipped_by_the_fetcher_are_not_committed(
    embedded: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STREAMS_SDK", "tencent")
    settings = Settings(
        broker="kafka://127.0.0.1:1",  # never contacted: nothing here starts the app
        embedded_broker=embedded,
        table_store="memory://",
        web_port=0,
    )
    app, _, _ = create_app(settings)
    consumer: Any = app.consumer  # Faust's private offset bookkeeping is what is checked
    tp = TP(settings.changes_topic, 0)
    consumer._committed_offset[tp] = 2408
    # The fetcher hands over offset 2443 while the read offset is 2408 (2408..2442 dropped):
    # Consumer._drain_messages then records the jump like this.
    await consumer._add_gap(tp, 2409, 2443)
    consumer._acked[tp].append(2443)  # the agent acks the one event it was given
    consumer._acked_index[tp].add(2443)
    committed = consumer._new_offset(tp)
    assert committed is None or committed <= 2408, (
        f"{type(consumer).__name__} would commit {committed}: offsets 2408..2442 were never "
        "acked, so their events would never get an outcome"
    )

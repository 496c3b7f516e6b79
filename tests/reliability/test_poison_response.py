"""Poison SDK responses: HTTP 200 with a body lacking ResultItem, or a body that is not JSON.

Both are retryable (the server may be mid-deploy), then ``failed`` / ``retries_exhausted`` with an
``info`` naming the malformed response -- never acked as ``applied``. Afterwards a healthy
emulator gets everything new applied by the same worker.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.fixtures.guarantees import (
    Doc,
    Ledger,
    Pos,
    Workload,
    check_outcomes_cover,
    check_state,
    check_writes,
    emulator_state,
    read_outcomes,
    wait_for,
)
from tests.fixtures.pipeline import MakePipeline

MALFORMED = -3  # the client's code for a 200 answer that is not the documented shape
POISONS = [
    pytest.param({"malformed": True}, "ResultItem missing", id="missing-result-item"),
    pytest.param({"non_json": True}, "response is not JSON", id="not-json"),
]


@pytest.mark.parametrize(("knobs", "info"), POISONS)
def test_poison_response_is_retried_then_failed_never_applied(
    reliable_pipeline: MakePipeline, figures: dict[str, Any], knobs: dict[str, bool], info: str
) -> None:
    pipe, emulator = reliable_pipeline(
        worker_env={"STREAMS_SDK_RETRY_DEADLINE_S": "2", "STREAMS_SDK_RETRY_CAP_S": "0.5"},
        **knobs,
    )
    work = Workload(tag=pipe.prefix, users=20, conversations=3, late_share=0, replay_share=0)
    pipe.start_worker()
    wait_for(lambda: "owning 4 partitions" in pipe.worker_log(0), 60, "the worker to start")
    poisoned: dict[Pos, Doc] = dict(zip(pipe.publish(*work.round(0)), work.round(0), strict=True))
    outcomes = read_outcomes(pipe.bootstrap, pipe.outcomes, poisoned)
    assert {d["status"] for d in outcomes} == {"failed"}, "never acked as applied"
    for doc in outcomes:
        assert (doc["reason"], doc["code"]) == ("retries_exhausted", MALFORMED), doc
        assert info in doc["info"] and doc["attempts"] > 1, doc
    assert emulator.writes() == []
    poison_stats = emulator.stats()

    emulator.set_knobs(malformed=False, non_json=False)
    healthy = dict(zip(pipe.publish(*work.round(1)), work.round(1), strict=True))
    published = poisoned | healthy
    outcomes = read_outcomes(pipe.bootstrap, pipe.outcomes, published)
    ledger = Ledger(published, outcomes, emulator.writes())
    figures |= check_outcomes_cover(ledger)
    figures |= check_writes(ledger)
    figures |= check_state(
        ledger, emulator_state(emulator, work.user_ids()), everything_applies=True
    )
    assert {d["status"] for d in outcomes if d["event_id"].endswith("-r1")} == {"applied"}
    assert pipe.workers[0].poll() is None
    figures |= {
        "poison": sorted(knobs),
        "poisoned_requests": poison_stats["injected_failures"],
        "failed_info": info,
        "failed_attempts_max": max(d["attempts"] for d in outcomes if d["status"] == "failed"),
    }


def test_answer_lost_after_the_write_is_failed_though_applied(
    reliable_pipeline: MakePipeline, figures: dict[str, Any]
) -> None:
    """An honest limit: ``failed`` means "not confirmed", not "not applied".

    The emulator applies the write, then answers after the client's 5 s timeout; with a 2 s
    deadline no retry follows, so the outcome is ``failed`` although the IM holds the value.
    """
    pipe, emulator = reliable_pipeline(
        latency_ms=6000, worker_env={"STREAMS_SDK_RETRY_DEADLINE_S": "2"}
    )
    pipe.start_worker()
    doc = Workload(tag=pipe.prefix, users=1, conversations=1).round(0)[0]
    published = dict(zip(pipe.publish(doc), [doc], strict=True))
    [outcome] = read_outcomes(pipe.bootstrap, pipe.outcomes, published)
    assert (outcome["status"], outcome["reason"], outcome["code"]) == (
        "failed",
        "retries_exhausted",
        -1,
    ), outcome
    assert "Timeout" in outcome["info"] and outcome["attempts"] == 1, outcome
    assert [w["custom_data"] for w in emulator.writes()] == [doc["custom_data"]]
    figures |= {"outcome": outcome["status"], "info": outcome["info"], "written": True}

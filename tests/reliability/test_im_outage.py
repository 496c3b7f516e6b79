"""The IM backend goes away: connection refused (emulator process stopped) and HTTP 5xx.

With a retry deadline longer than the outage the worker only slows down and applies everything
after recovery. With a shorter deadline, ``fail`` turns exactly the changes whose retries ran past
it into ``failed`` / ``retries_exhausted`` outcomes; ``stop`` makes the worker exit non-zero
without acking, and a restart applies them.
"""

from __future__ import annotations

import re
import time
from datetime import datetime
from typing import Any

from tests.fixtures.pipeline import Pipeline
from tests.reliability.conftest import MakePipeline
from tests.reliability.helpers import (
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

#: Client-side codes: -1 transport error (connection refused), -2 HTTP status (503 here).
OUTAGE_CODES = {-1, -2}
#: What a failed outcome's ``info`` says in each phase: the emulator's 503 answers (code -2),
#: then the refused connections of the stopped emulator (code -1, aiohttp's error type first).
HTTP_503 = re.compile(r"HTTP 503\Z")
CONNECTION_REFUSED = re.compile(r"(ClientConnectorError|ClientOSError|ServerDisconnectedError): ")


def started_worker(pipe: Pipeline, **env: str) -> None:
    pipe.start_worker(**env)
    index = len(pipe.workers) - 1
    wait_for(lambda: "owning 4 partitions" in pipe.worker_log(index), 60, "the worker to start")


def publish(pipe: Pipeline, docs: list[Doc]) -> dict[Pos, Doc]:
    return dict(zip(pipe.publish(*docs), docs, strict=True))


def stamp(outcome: Doc) -> float:
    return datetime.fromisoformat(outcome["processed_at"]).timestamp()


def test_outage_shorter_than_the_deadline_only_slows_the_worker(
    reliable_pipeline: MakePipeline, figures: dict[str, Any]
) -> None:
    # Deadline 20 s (the default) > the ~7 s outage; 20 + 5 < the embedded 30 s rebalance timeout.
    pipe, emulator = reliable_pipeline(worker_env={"STREAMS_SDK_RETRY_DEADLINE_S": "20"})
    work = Workload(tag=pipe.prefix, users=40, conversations=5, late_share=0, replay_share=0)
    started_worker(pipe)
    published = publish(pipe, work.round(0))
    read_outcomes(pipe.bootstrap, pipe.outcomes, published)

    outage_start = time.time()
    emulator.set_knobs(http_status=503)
    published |= publish(pipe, work.round(1))
    time.sleep(3)
    answered_503 = emulator.stats()["injected_failures"]
    emulator.stop()  # connection refused: nothing listens on the port
    published |= publish(pipe, work.round(2))
    time.sleep(4)
    emulator.start()  # same port and database, healthy knobs
    recovered = time.time()
    published |= publish(pipe, work.round(3))

    outcomes = read_outcomes(pipe.bootstrap, pipe.outcomes, published)
    ledger = Ledger(published, outcomes, emulator.writes())
    figures |= check_outcomes_cover(ledger)
    figures |= check_writes(ledger)
    figures |= check_state(
        ledger, emulator_state(emulator, work.user_ids()), everything_applies=True
    )
    assert "failed" not in figures["first_outcomes"], figures
    during = [d for d in outcomes if d["status"] == "applied" and stamp(d) < recovered]
    during = [d for d in during if stamp(d) >= outage_start]
    assert during and all(d["attempts"] > 1 for d in during), "windows in the outage retried"
    held_up = [w["at"] for w in ledger.writes if w["custom_data"].split("-")[-1] in ("r1", "r2")]
    figures |= {
        "outage_s": round(recovered - outage_start, 1),
        "answered_503": answered_503,
        "retried_changes_applied_after_recovery": len(during),
        "max_attempts_in_outage": max(d["attempts"] for d in during),
        # From the emulator's restart to the write of the last change held up by the outage.
        "time_to_recover_s": round(max(held_up) - recovered, 2),
    }
    # Backoff: a worker not waiting between attempts would make hundreds per conversation.
    assert figures["max_attempts_in_outage"] <= 25, figures
    assert pipe.workers[0].poll() is None


def test_outage_longer_than_the_deadline_fail_then_stop(
    reliable_pipeline: MakePipeline, figures: dict[str, Any]
) -> None:
    deadline_s = 2.0
    pipe, emulator = reliable_pipeline(
        worker_env={
            "STREAMS_SDK_RETRY_DEADLINE_S": str(deadline_s),
            "STREAMS_SDK_RETRY_CAP_S": "0.5",
            "STREAMS_ON_RETRY_EXHAUSTED": "fail",
        }
    )
    work = Workload(tag=pipe.prefix, users=40, conversations=5, late_share=0, replay_share=0)
    started_worker(pipe)
    published = publish(pipe, work.round(0))
    read_outcomes(pipe.bootstrap, pipe.outcomes, published)

    # --- fail: the outage outlasts the deadline --------------------------------------------
    outage_start = time.time()
    emulator.set_knobs(http_status=503)
    published |= publish(pipe, work.round(1))
    time.sleep(3)
    emulator.stop()
    published |= publish(pipe, work.round(2))
    time.sleep(3.5)
    emulator.start()
    outage_end = time.time()
    published |= publish(pipe, work.round(3))
    outcomes = read_outcomes(pipe.bootstrap, pipe.outcomes, published)
    ledger = Ledger(published, outcomes, emulator.writes())
    figures |= check_outcomes_cover(ledger)
    figures |= check_writes(ledger)
    figures |= check_state(
        ledger, emulator_state(emulator, work.user_ids()), everything_applies=False
    )

    finals = [d for d in outcomes if d["status"] in ("applied", "failed")]
    failed = [d for d in finals if d["status"] == "failed"]
    assert failed, "the outage outlasted the deadline"
    written = {w["request_id"] for w in ledger.writes}
    margin = 1.0
    for doc in finals:
        window = stamp(doc)  # when the window started: its retry deadline is window + 2 s
        if doc["status"] == "failed":
            assert (doc["reason"], doc["code"] in OUTAGE_CODES) == ("retries_exhausted", True), doc
            expected = HTTP_503 if doc["code"] == -2 else CONNECTION_REFUSED
            assert expected.match(doc["info"]), doc
            assert doc["attempts"] > 1 and doc["request_id"] not in written, doc
            assert outage_start - deadline_s - margin <= window <= outage_end, doc
        elif outage_start + margin <= window <= outage_end - deadline_s - margin:
            raise AssertionError(f"a window inside the outage did not fail: {doc}")
    assert all(d["status"] == "applied" for d in finals if stamp(d) > outage_end + margin)
    infos = sorted({d["info"].split(":")[0] for d in failed})
    figures |= {
        "deadline_s": deadline_s,
        "outage_s": round(outage_end - outage_start, 1),
        "failed": len(failed),
        "failed_infos": infos,
        "failed_attempts_max": max(d["attempts"] for d in failed),
    }
    pipe.stop()

    # --- stop: the worker exits without acking; a restart applies the window ----------------
    pipe.env_overrides["STREAMS_ON_RETRY_EXHAUSTED"] = "stop"
    started_worker(pipe)
    emulator.set_knobs(http_status=503)
    kept = publish(pipe, work.round(4))
    stopper = pipe.workers[-1]
    stop_started = time.monotonic()
    code = stopper.wait(timeout=60)
    figures["stop_exit_code"] = code
    figures["stop_exit_after_s"] = round(time.monotonic() - stop_started, 1)
    assert code != 0
    assert "RetriesExhaustedError" in pipe.worker_log(len(pipe.workers) - 1)
    emulator.set_knobs(http_status=0)
    restarted = time.monotonic()
    started_worker(pipe)
    published |= kept
    outcomes = read_outcomes(pipe.bootstrap, pipe.outcomes, published)
    figures["stop_restart_to_applied_s"] = round(time.monotonic() - restarted, 1)
    ledger = Ledger(published, outcomes, emulator.writes())
    check_outcomes_cover(ledger)
    check_writes(ledger)
    check_state(ledger, emulator_state(emulator, work.user_ids()), everything_applies=False)
    firsts: dict[Pos, Doc] = {}
    for doc in outcomes:
        firsts.setdefault((doc["source"]["partition"], doc["source"]["offset"]), doc)
    round_4 = [doc for pos, doc in firsts.items() if pos in kept]
    assert len(round_4) == len(kept)
    # The stopped worker emitted nothing for its window and acked nothing: the restarted one
    # applies every change (a redelivery may add a `duplicate` after, never a `failed`).
    assert {d["status"] for d in round_4} == {"applied"}, round_4
    assert not [d for d in outcomes if d["status"] == "failed" and d["event_id"].endswith("-r4")]

"""The IM backend goes away: connection refused (emulator process stopped) and HTTP 5xx.

With a retry deadline longer than the outage the worker only slows down and applies everything
after recovery. With a shorter deadline, ``fail`` turns exactly the changes whose retries ran past
it into ``failed`` / ``retries_exhausted`` outcomes; ``stop`` makes the worker exit non-zero
without acking, and a restart applies them.

Each phase of an outage ends on what the worker did, not on a clock: the 503s last until the
emulator has answered one (or until the changes sent into them have failed), the refused
connections until those changes have failed. Only the short outage holds its refused phase for
a fixed time, ``REFUSED_S``: the fault itself, shorter than the deadline by construction; the
worker's own count of refused requests then proves it was met.
"""

from __future__ import annotations

import re
import time
import urllib.request
from typing import Any

from streams_devkit.broker import free_port
from tests.fixtures.guarantees import (
    Doc,
    Ledger,
    Pos,
    Workload,
    authoritative,
    check_outcomes_cover,
    check_state,
    check_writes,
    emulator_state,
    position,
    read_outcomes,
    wait_for,
)
from tests.fixtures.pipeline import MakePipeline, Pipeline

#: Client-side codes: -1 transport error (connection refused), -2 HTTP status (503 here).
OUTAGE_CODES = {-1, -2}
#: What a failed outcome's ``info`` says in each phase: the emulator's 503 answers (code -2),
#: then the refused connections of the stopped emulator (code -1, the error's type first: the
#: refused connect, or a kept-alive connection the stopping emulator closed mid-request).
HTTP_503 = re.compile(r"HTTP 503\Z")
CONNECTION_REFUSED = re.compile(r"(ConnectionRefusedError|ConnectionResetError|TransportError): ")
#: How long the short outage keeps the port closed: the fault, not a wait. Well under the
#: 20 s deadline; the default backoff (at most 5 s, full jitter) retries within it.
REFUSED_S = 4.0


def started_worker(pipe: Pipeline, **env: str) -> None:
    pipe.start_worker(**env)
    index = len(pipe.workers) - 1
    wait_for(lambda: "owning 4 partitions" in pipe.worker_log(index), 60, "the worker to start")


def publish(pipe: Pipeline, docs: list[Doc]) -> dict[Pos, Doc]:
    return dict(zip(pipe.publish(*docs), docs, strict=True))


def requests_with(port: int, code: int) -> float:
    """The worker's count of IM requests answered ``code`` (-1: no HTTP answer; -2: an HTTP
    error status), from its /metrics; a window's figures are recorded when it ends."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        lines = response.read().decode().splitlines()
    wanted = f'streams_sdk_requests_total{{code="{code}"}} '
    return sum(float(line[len(wanted) :]) for line in lines if line.startswith(wanted))


def copies(outcomes: list[Doc]) -> dict[Pos, list[Doc]]:
    """Every outcome record per event position, in topic order."""
    grouped: dict[Pos, list[Doc]] = {}
    for doc in outcomes:
        grouped.setdefault(position(doc), []).append(doc)
    return grouped


def test_outage_shorter_than_the_deadline_only_slows_the_worker(
    reliable_pipeline: MakePipeline, figures: dict[str, Any]
) -> None:
    # Deadline 20 s (the default) > the outage; 20 + 5 < the 30 s rebalance timeout.
    port = free_port()
    pipe, emulator = reliable_pipeline(
        worker_env={"STREAMS_SDK_RETRY_DEADLINE_S": "20", "STREAMS_WEB_PORT": str(port)}
    )
    work = Workload(tag=pipe.prefix, users=40, conversations=5, late_share=0, replay_share=0)
    started_worker(pipe)
    published = publish(pipe, work.round(0))
    read_outcomes(pipe.bootstrap, pipe.outcomes, published)

    emulator.set_knobs(http_status=503)
    outage_start = time.time()
    published |= publish(pipe, work.round(1))
    wait_for(lambda: emulator.stats()["injected_failures"] > 0, 60, "the worker to meet a 503")
    answered_503 = emulator.stats()["injected_failures"]
    emulator.stop()  # connection refused: nothing listens on the port
    published |= publish(pipe, work.round(2))
    time.sleep(REFUSED_S)  # the fault itself (see REFUSED_S), not a wait for the worker
    recovering = time.time()
    emulator.start()  # same port and database, healthy knobs
    published |= publish(pipe, work.round(3))

    outcomes = read_outcomes(pipe.bootstrap, pipe.outcomes, published)
    ledger = Ledger(published, outcomes, emulator.writes())
    figures |= check_outcomes_cover(ledger)
    figures |= check_writes(ledger)
    figures |= check_state(
        ledger, emulator_state(emulator, work.user_ids()), everything_applies=True
    )
    failed = [d for d in outcomes if d["status"] == "failed"]
    assert not failed, f"the outage was shorter than the deadline: {failed[:3]}"
    # Both phases met the worker, by its own counts (not by how long they lasted): requests
    # answered 503 and requests refused, all of them retried to success.
    for code, phase in ((-2, "answered 503"), (-1, "refused while the port was shut")):
        wait_for(lambda code=code: requests_with(port, code) > 0, 30, f"a request {phase}")
    # Counts, not windows of time: the changes published into the outage and applied (those
    # not superseded by the next round) include retried ones.
    during = [d for d in outcomes if d["status"] == "applied"]
    during = [d for d in during if d["event_id"].endswith(("-r1", "-r2"))]
    assert any(d["attempts"] > 1 for d in during), during[:3]
    held_up = [w["at"] for w in ledger.writes if w["custom_data"].split("-")[-1] in ("r1", "r2")]
    figures |= {
        "outage_s": round(recovering - outage_start, 1),
        "answered_503": answered_503,
        "worker_requests_503": requests_with(port, -2),
        "worker_requests_refused": requests_with(port, -1),
        "retried_changes_applied_after_recovery": sum(d["attempts"] > 1 for d in during),
        "max_attempts_in_outage": max(d["attempts"] for d in during),
        # From the emulator's restart to the write of the last change held up by the outage.
        "time_to_recover_s": round(max(held_up) - recovering, 2),
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
    healthy = publish(pipe, work.round(0))
    read_outcomes(pipe.bootstrap, pipe.outcomes, healthy)

    # --- fail: each phase of the outage lasts until the changes sent into it have failed ----
    emulator.set_knobs(http_status=503)
    answered_503 = publish(pipe, work.round(1))
    read_outcomes(pipe.bootstrap, pipe.outcomes, answered_503)
    emulator.stop()
    refused = publish(pipe, work.round(2))
    read_outcomes(pipe.bootstrap, pipe.outcomes, refused)
    emulator.start()
    healthy |= publish(pipe, work.round(3))
    published = healthy | answered_503 | refused
    outcomes = read_outcomes(pipe.bootstrap, pipe.outcomes, published)
    ledger = Ledger(published, outcomes, emulator.writes())
    figures |= check_outcomes_cover(ledger)
    figures |= check_writes(ledger)
    figures |= check_state(
        ledger, emulator_state(emulator, work.user_ids()), everything_applies=False
    )

    grouped = copies(outcomes)
    written = {w["request_id"] for w in ledger.writes}
    for phase, code, info in ((answered_503, -2, HTTP_503), (refused, -1, CONNECTION_REFUSED)):
        for pos in phase:
            for doc in grouped[pos]:  # every copy: a redelivery meets the same outage
                assert (doc["status"], doc["reason"]) == ("failed", "retries_exhausted"), doc
                assert doc["code"] == code and info.match(doc["info"]), doc
                assert doc["attempts"] > 1 and doc["request_id"] not in written, doc
    # The changes that never met the outage were applied; nothing else failed.
    assert {authoritative(grouped[pos])["status"] for pos in healthy} == {"applied"}
    failed = [d for d in outcomes if d["status"] == "failed"]
    assert len({position(d) for d in failed}) == len(answered_503) + len(refused)
    infos = sorted({d["info"].split(":")[0] for d in failed})
    figures |= {
        "deadline_s": deadline_s,
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
    grouped = copies(outcomes)
    # The stopped worker emitted nothing for its window and acked nothing: the restarted one
    # applies every change (a redelivery may add a `duplicate` after, never a `failed`).
    round_4 = [authoritative(grouped[pos]) for pos in kept]
    assert {d["status"] for d in round_4} == {"applied"}, round_4
    assert {d["status"] for pos in kept for d in grouped[pos]} <= {"applied", "duplicate"}

"""Secrets stay secret under failure, plain HTTP stays local, oversized input is never parsed.

A worker runs with a sentinel secret key at DEBUG level through healthy calls, HTTP 503,
connection refused, non-JSON answers, a permanent failure and an unparseable message. Its log,
every outcome, every dead letter, the emulator's logs and the settings' reprs must contain neither
the secret nor anything shaped like a UserSig. The emulator's own checks (no UserSig, a bad one,
another sdkappid: 70003/70009/70013/70014/60006) are covered over HTTP by
``tests/devkit/test_emulator.py::test_credential_errors_fail_the_request``.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from streams.contract import OutcomeReason
from streams.core.decode import decode
from streams.core.records import Envelope, Position, Rejection
from streams.errors import ConfigError
from streams.sdk.config import IMSettings
from streams.settings import Settings
from streams.settings_base import load_settings
from streams_devkit.kafka_io import produce
from tests.fixtures.guarantees import Workload, read_outcomes, read_topic, wait_for
from tests.fixtures.pipeline import MakePipeline

SENTINEL = "sentinel-secret-XYZ-7d41c0"
#: A UserSig: zlib (``eJ``) in base64 with ``*-_`` for ``+/=`` (Tencent's variant).
USERSIG_SHAPE = re.compile(r"eJ[0-9A-Za-z*\-_]{100,}")


def assert_clean(name: str, text: str) -> None:
    assert SENTINEL not in text, f"the secret key leaked into {name}"
    assert "usersig=" not in text.lower(), f"a UserSig query parameter leaked into {name}"
    found = USERSIG_SHAPE.search(text)
    assert found is None, f"something shaped like a UserSig leaked into {name}: {found}"


def test_no_secret_or_usersig_leaks_under_failures(
    reliable_pipeline: MakePipeline,
    figures: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pipe, emulator = reliable_pipeline(
        emulator_env={"STREAMS_IM_SECRET_KEY": SENTINEL},
        worker_env={
            "STREAMS_IM_SECRET_KEY": SENTINEL,
            "STREAMS_LOG_LEVEL": "DEBUG",
            "STREAMS_SDK_RETRY_DEADLINE_S": "1.5",
            "STREAMS_SDK_RETRY_CAP_S": "0.3",
        },
        fail_conversations="c2c_closed",
    )
    work = Workload(tag=pipe.prefix, users=10, conversations=2, late_share=0, replay_share=0)
    pipe.start_worker()
    wait_for(lambda: "owning 4 partitions" in pipe.worker_log(0), 60, "the worker to start")
    closed = work.round(0)[0] | {"event_id": "closed-1", "conversation_id": "c2c_closed"}
    positions = pipe.publish(*work.round(0), closed, b"not json: sentinel-free garbage")
    read_outcomes(pipe.bootstrap, pipe.outcomes, positions)

    emulator.set_knobs(http_status=503)
    positions += pipe.publish(*work.round(1))
    read_outcomes(pipe.bootstrap, pipe.outcomes, positions)
    emulator.set_knobs(http_status=0, non_json=True)
    positions += pipe.publish(*work.round(2))
    read_outcomes(pipe.bootstrap, pipe.outcomes, positions)
    emulator.stop()
    positions += pipe.publish(*work.round(3))
    outcomes = read_outcomes(pipe.bootstrap, pipe.outcomes, positions)
    emulator.start()
    positions += pipe.publish(*work.round(4))
    outcomes = read_outcomes(pipe.bootstrap, pipe.outcomes, positions)
    infos = sorted({str(d["info"]).split(":")[0] for d in outcomes if d["status"] == "failed"})
    assert {"HTTP 503", "response is not JSON", "injected failure"} <= set(infos), infos
    assert any("Error" in info for info in infos), infos  # connection refused

    raw_outcomes = read_topic(pipe.bootstrap, pipe.outcomes, lambda rs: len(rs) >= len(outcomes))
    dead = read_topic(pipe.bootstrap, pipe.dead_letters, lambda rs: len(rs) >= 1)
    assert len(dead) == 1
    for name, value in pipe.env().items():
        monkeypatch.setenv(name, value)
    im_settings = load_settings(IMSettings)
    assert im_settings.secret_key.get_secret_value() == SENTINEL  # the sentinel was really used
    monkeypatch.setenv("STREAMS_IM_TIMEOUT_S", "not-a-number")
    with pytest.raises(ConfigError) as bad_config:
        load_settings(IMSettings)
    emulator_logs = sorted(p for p in tmp_path.glob("emulator-*/*.log"))
    captured = {
        "worker log": pipe.worker_log(0),
        "outcome records": b"\n".join(r.value for r in raw_outcomes).decode(errors="replace"),
        "dead letters": repr([(r.key, r.value, r.headers) for r in dead]),
        "repr(Settings)": repr(load_settings(Settings)),
        "repr(IMSettings)": repr(im_settings) + str(im_settings.model_dump()),
        "ConfigError": str(bad_config.value),
        **{f"emulator {p.name}": p.read_text(errors="replace") for p in emulator_logs},
    }
    for name, text in captured.items():
        assert_clean(name, text)
    assert pipe.workers[0].poll() is None
    figures |= {
        "captured_bytes": {name: len(text) for name, text in captured.items()},
        "worker_log_lines": captured["worker log"].count("\n"),
        "failed_infos": infos,
        "outcomes_checked": len(raw_outcomes),
    }


def test_worker_refuses_plain_http_to_a_remote_endpoint(
    reliable_pipeline: MakePipeline, figures: dict[str, Any]
) -> None:
    pipe, _ = reliable_pipeline()
    env = pipe.env(STREAMS_IM_ENDPOINT="http://example.com", STREAMS_IM_SECRET_KEY=SENTINEL)
    started = time.monotonic()
    refused = subprocess.run(
        [sys.executable, "-m", "streams", "worker"],
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    output = (refused.stdout + refused.stderr).decode(errors="replace")
    assert refused.returncode != 0, output
    assert "plain http:// is only allowed to a loopback endpoint" in output, output
    assert "STREAMS_IM_ALLOW_INSECURE" in output, output
    assert_clean("the refusal", output)
    allowed = IMSettings(
        endpoint="http://example.com",
        allow_insecure=True,
        sdkappid=1400000001,
        admin="administrator",
        secret_key=SENTINEL,
    )
    assert allowed.endpoint == "http://example.com"
    figures |= {
        "exit_code": refused.returncode,
        "refused_after_s": round(time.monotonic() - started, 2),
        "message": output.strip().splitlines()[-1][:200],
    }


TEN_MB = 10 * 1024 * 1024


@pytest.mark.parametrize("tail", [b'"}', b"\xff\x00 not JSON at all {{{"], ids=["valid", "broken"])
def test_ten_megabyte_message_is_rejected_unparsed(tail: bytes, figures: dict[str, Any]) -> None:
    """``too_large`` before parsing: even a body that is broken deep inside is not looked at."""
    value = b'{"event_id": "big", "user_id": "alice", "custom_data": "' + b"a" * TEN_MB + tail
    envelope = Envelope(b"alice", value, Position("changes", 0, 0), 4)
    now = datetime.now(UTC)
    tracemalloc.start()
    try:
        started = time.perf_counter()
        result = decode(envelope, now=now, max_skew=timedelta(seconds=300), max_bytes=65536)
        took = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert isinstance(result, Rejection), result
    assert (result.reason, result.dead_letter) == (OutcomeReason.TOO_LARGE, True)
    assert result.event_id is None, "nothing was read out of it"
    assert peak < 64 * 1024, f"decode allocated {peak} bytes for a {len(value)}-byte message"
    figures |= {"message_bytes": len(value), "peak_alloc_bytes": peak, "decode_s": took}


def test_oversized_message_through_the_broker_is_dead_lettered(
    reliable_pipeline: MakePipeline, figures: dict[str, Any]
) -> None:
    """The same through a worker, at the largest size the producer sends by default (~1 MB)."""
    pipe, _ = reliable_pipeline()
    pipe.start_worker()
    value = b'{"event_id": "big", "custom_data": "' + b"a" * 1_000_000 + b"\xff"
    positions = asyncio.run(produce(pipe.bootstrap, pipe.changes, [(b"alice", value)]))
    found = read_outcomes(pipe.bootstrap, pipe.outcomes, positions, timeout_s=30)
    log = pipe.worker_log(0)
    assert pipe.workers[0].poll() is None, f"a 1 MB input killed the worker:\n{log[-1500:]}"
    [outcome] = found
    assert (outcome["status"], outcome["reason"]) == ("rejected", "too_large"), outcome
    [dead] = read_topic(pipe.bootstrap, pipe.dead_letters, lambda rs: len(rs) >= 1)
    headers = dict(dead.headers)
    assert headers["original-value-size"] == str(len(value)).encode()
    assert value.startswith(dead.value) and len(dead.value) < 1_000_000, "cut to fit 1 MB"
    figures |= {"message_bytes": len(value), "outcome": outcome["reason"]}

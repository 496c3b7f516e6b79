"""``streams demo`` (what ``make demo`` runs): the embedded default end to end, as a newcomer
runs it.

The Tansu tier's proof that the embedded default works: the demo starts its own Tansu broker,
emulator and worker (``STREAMS_EMBEDDED_BROKER=true``, the ``tansu://`` transport), publishes
its sample workload, and exits 0 only when every message has an outcome and the emulator holds
last-write-wins over the input. The rest of the suite runs on Apache Kafka.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

#: The demo's own outcome wait is 90 s; a hung start fails here, loudly, well before the
#: suite's per-test timeout.
DEMO_TIMEOUT_S = 240


def test_the_demo_runs_on_the_embedded_broker_and_verifies_itself(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMS_")}
    done = subprocess.run(
        [sys.executable, "-m", "streams", "demo"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=DEMO_TIMEOUT_S,
        check=False,
    )  # fmt: skip
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-4000:]
    assert "(Tansu, memory storage)" in out, out[-4000:]
    published = re.search(r"published (\d+) changes", out)
    verdict = re.search(
        r"OK: all (\d+) conversations hold their last write; every one of (\d+)", out
    )
    assert published and verdict, out[-4000:]
    assert verdict.group(2) == published.group(1), "every published message has an outcome"
    assert int(verdict.group(1)) > 0
    assert "Traceback" not in out, out[-4000:]

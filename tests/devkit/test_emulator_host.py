"""The emulator binds loopback only, unless told to expose its unauthenticated /debug endpoints.

The rule (``check_host``) on addresses and names, then the real command: a non-loopback
``--host`` is a usage error naming ``--allow-remote`` and binds nothing; with the flag the
emulator listens on every interface.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

import pytest

from streams_devkit.emulator.config import check_host
from tests.fixtures.emulator import ADMIN, SDKAPPID, SECRET_KEY, STARTUP_TIMEOUT_S, STOP_TIMEOUT_S

CLI: Final = "from streams_devkit.emulator.cli import emulator_command; emulator_command()"
CREDENTIALS: Final = {
    "STREAMS_IM_SDKAPPID": str(SDKAPPID),
    "STREAMS_IM_ADMIN": ADMIN,
    "STREAMS_IM_SECRET_KEY": SECRET_KEY,
}


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "::1", "localhost"])
def test_loopback_hosts_are_bound(host: str) -> None:
    check_host(host, allow_remote=False)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "", "emulator.example"])
def test_other_hosts_need_allow_remote(host: str) -> None:
    with pytest.raises(ValueError, match=r"not a loopback address.*--allow-remote"):
        check_host(host, allow_remote=False)
    check_host(host, allow_remote=True)


@contextmanager
def emulator(tmp_path: Path, *flags: str) -> Iterator[subprocess.Popen[str]]:
    """The real command on a free port; stopped (SIGTERM) at the end if it still runs."""
    command = [sys.executable, "-c", CLI, "--port", "0", "--db", str(tmp_path / "im.db"), *flags]
    proc = subprocess.Popen(
        command,
        env=os.environ | CREDENTIALS,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=STOP_TIMEOUT_S)


def test_the_command_refuses_a_remote_host_without_the_flag(tmp_path: Path) -> None:
    with emulator(tmp_path, "--host", "0.0.0.0") as proc:
        returncode = proc.wait(timeout=STARTUP_TIMEOUT_S)
        assert proc.stderr is not None
        err = proc.stderr.read()
    assert returncode == 2, err
    assert "'0.0.0.0' is not a loopback address" in err and "--allow-remote" in err


def test_the_command_binds_a_remote_host_with_the_flag(tmp_path: Path) -> None:
    with emulator(tmp_path, "--host", "0.0.0.0", "--allow-remote") as proc:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], STARTUP_TIMEOUT_S)
        assert ready, f"no announcement within {STARTUP_TIMEOUT_S:g} s"
        assert proc.stdout.readline().startswith("emulator listening on http://0.0.0.0:")

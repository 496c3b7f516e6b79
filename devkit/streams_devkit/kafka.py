"""Apache Kafka (KRaft) on loopback for the tests, the fault tests and the benchmarks.

Why this exists: production runs on Apache Kafka, so the worker's path (group coordinator and
its timings, record limits, replication, leader elections, TLS/SASL) has to meet the real
broker, not only the embedded Tansu. The jars come from Maven Central through the checked-in
Maven project ``devkit/kafka/pom.xml`` (one pinned version; ``make`` resolves it once and Maven
checks the checksums); Java 17 runs them. No Docker, no download at test time.

A :class:`KafkaCluster` is one combined node (controller and broker in one JVM) or a quorum of
three, each node controller and broker, on free loopback ports, with a small heap. It formats
KRaft storage, starts every node, waits until the metadata lists every broker, and stops and
cleans up by PID. Single nodes can be killed, stopped and started again (the fault tests).
A missing Java or Maven, a taken port or a node that fails to start is a :class:`KafkaError`
carrying the tail of that node's log, never a hang.

Settings are Kafka's production defaults with the replication a cluster of that size allows
(3 nodes: replication factor 3, ``min.insync.replicas=2``) and one test-only change, which
:data:`TEST_BROKER_CONFIG` explains.

A cluster can also open a secured client listener as Strimzi deploys one (:class:`SaslSslListener`:
SASL_SSL, SCRAM users created when the storage is formatted, a PEM key store), next to the
PLAINTEXT listener that the brokers and controllers keep using among themselves and that
admin steps of the tests (creating topics) may use. Without it nothing changes.
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Self

from streams_devkit.broker import die_with_parent, metadata_brokers, port_is_free

__all__ = [
    "KAFKA_VERSION",
    "KafkaCluster",
    "KafkaError",
    "KafkaNode",
    "SaslSslListener",
    "kafka_classpath",
]

#: The Maven project that pins Apache Kafka; ``make`` resolves it into ``target/lib``.
POM = Path(__file__).resolve().parent.parent / "kafka" / "pom.xml"
LIB = POM.parent / "target" / "lib"

#: Must equal ``kafka.version`` in the pom (tests/devkit/test_kafka.py checks it).
KAFKA_VERSION = "4.4.0"

#: The one change from Kafka's defaults. ``group.initial.rebalance.delay.ms`` (3,000 by
#: default) holds the *first* join of an empty consumer group, so that many members starting
#: together join one generation. Every test and benchmark makes new groups and would wait 3 s
#: for each; no later rebalance, and nothing the worker sees but that first wait, depends on it.
TEST_BROKER_CONFIG: dict[str, str] = {"group.initial.rebalance.delay.ms": "0"}

_LOG_TAIL_BYTES = 6000
_PORT_ATTEMPTS = 3

_LOG4J2 = """\
Configuration:
  Appenders:
    Console:
      name: STDOUT
      PatternLayout:
        pattern: "[%d] %p %m (%c)%n"
  Loggers:
    Root:
      level: INFO
      AppenderRef:
        - ref: STDOUT
    Logger:
      - name: kafka.request.logger
        level: WARN
      - name: state.change.logger
        level: WARN
      - name: org.apache.kafka.common.utils.AppInfoParser
        level: WARN
      - name: org.apache.kafka.common.config.AbstractConfig
        level: WARN
"""


class KafkaError(RuntimeError):
    """Kafka could not be resolved, started or stopped; the message quotes the node's log."""


#: The listener's name in ``server.properties`` (and its protocol: the names are the same).
SASL_SSL_LISTENER = "SASL_SSL"

#: What ``kafka-storage format --add-scram`` can carry unquoted (no ``,``, ``]``, ``=``, quotes
#: or blanks): the test's own user names and passwords, nothing to escape.
_SCRAM_VALUE = re.compile(r"^[A-Za-z0-9._~!@#$%^&*()+:;/?-]{1,256}$")


@dataclass(frozen=True)
class SaslSslListener:
    """A client listener as Strimzi's SCRAM listener: SASL_SSL, SCRAM, TLS from a PEM key store.

    ``keystore`` is one PEM file holding the server's unencrypted private key and its
    certificate chain (``streams_devkit.tls.make_test_pki`` writes one for 127.0.0.1 and
    localhost). ``users`` (name -> password) are the SCRAM credentials, created in the cluster
    metadata when the storage is formatted (``kafka-storage format --add-scram``), so they
    exist before the first client connects; while formatting they are on that one JVM's
    command line (test credentials only). Clients need no certificate of their own
    (``ssl.client.auth=none``, Kafka's and Strimzi's default for SCRAM listeners).
    """

    keystore: Path
    users: Mapping[str, str]
    mechanism: str = "SCRAM-SHA-512"

    def __post_init__(self) -> None:
        if self.mechanism not in ("SCRAM-SHA-256", "SCRAM-SHA-512"):
            raise KafkaError(f"a SCRAM listener's mechanism is SCRAM-SHA-256 or -512, not "
                             f"{self.mechanism!r}")  # fmt: skip
        if not self.users:
            raise KafkaError("a SCRAM listener needs at least one user")
        for name, password in self.users.items():
            if not (_SCRAM_VALUE.match(name) and _SCRAM_VALUE.match(password)):
                # Never the password itself in the message.
                raise KafkaError(
                    f"SCRAM user {name!r}: names and passwords are 1-256 characters of "
                    "letters, digits and ._~!@#$%^&*()+:;/?- (kafka-storage's --add-scram)"
                )

    def server_properties(self) -> dict[str, str]:
        """What every node adds to its ``server.properties`` for this listener."""
        prefix = f"listener.name.{SASL_SSL_LISTENER.lower()}."
        login = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
        return {
            prefix + "sasl.enabled.mechanisms": self.mechanism,
            prefix + f"{self.mechanism.lower()}.sasl.jaas.config": login,
            prefix + "ssl.keystore.type": "PEM",
            prefix + "ssl.keystore.location": str(Path(self.keystore).resolve()),
            prefix + "ssl.client.auth": "none",
        }

    def format_arguments(self) -> list[str]:
        """``--add-scram MECHANISM=[name=...,password=...]`` for every user."""
        arguments = []
        for name, password in self.users.items():
            arguments += ["--add-scram", f"{self.mechanism}=[name={name},password={password}]"]
        return arguments


def java_binary() -> str:
    """``$JAVA_HOME/bin/java`` or ``java`` on the PATH; Kafka 4's brokers need Java 17+."""
    home = os.environ.get("JAVA_HOME")
    candidate = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if not candidate or not os.access(candidate, os.X_OK):
        raise KafkaError(
            "Apache Kafka needs Java 17 or newer: no `java` on the PATH (or in $JAVA_HOME/bin)"
        )
    return candidate


def kafka_classpath(*, resolve: bool = True) -> str:
    """The broker's classpath: every jar Maven resolved from ``devkit/kafka/pom.xml``.

    When nothing was resolved yet and ``resolve`` is true, runs Maven once (what ``make`` does),
    so ``streams kafka`` works from a fresh checkout too.
    """
    jars = sorted(LIB.glob("*.jar")) if LIB.is_dir() else []
    if not jars and resolve:
        _resolve_with_maven()
        jars = sorted(LIB.glob("*.jar"))
    if not any(jar.name == f"kafka_2.13-{KAFKA_VERSION}.jar" for jar in jars):
        raise KafkaError(
            f"Apache Kafka {KAFKA_VERSION} is not resolved in {LIB}: run `make kafka` "
            f"(mvn -f {POM} dependency:copy-dependencies)"
        )
    return os.pathsep.join(str(jar) for jar in jars)


def _resolve_with_maven() -> None:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise KafkaError("resolving Apache Kafka's jars needs Maven (`mvn`) on the PATH")
    done = subprocess.run(  # noqa: S603 - fixed arguments
        [mvn, "-q", "-B", "-f", str(POM), "dependency:copy-dependencies"],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise KafkaError(f"Maven could not resolve Apache Kafka:\n{done.stdout[-3000:]}")


def _cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, URL-safe base64 without padding (Kafka's Uuid).

    Never one that starts with "-": ``kafka-storage format --cluster-id -x...`` takes it for an
    option and fails (1 start in 64; Kafka's own ``Uuid.randomUuid`` skips those too).
    """
    while True:
        uuid = base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")
        if not uuid.startswith("-"):
            return uuid


def _free_ports(count: int, host: str) -> list[int]:
    """``count`` distinct ports free a moment ago (all bound at once, so none repeats)."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind((host, 0))
        return [sock.getsockname()[1] for sock in socks]


def _accepts(host: str, port: int | None) -> bool:
    """Whether ``host:port`` accepts a TCP connection (True for no port: nothing to wait for)."""
    if port is None:
        return True
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def _read_tail(path: Path, max_bytes: int = _LOG_TAIL_BYTES) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - max_bytes))
            return fh.read().decode("utf-8", errors="replace")
    except OSError as exc:
        return f"<log unavailable: {exc}>"


@dataclass
class KafkaNode:
    """One combined controller + broker JVM: its ports, directory, log and process."""

    node_id: int
    broker_port: int
    controller_port: int
    home: Path
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    #: The SASL_SSL client listener's port, when the cluster has one.
    secure_port: int | None = None

    @property
    def log_path(self) -> Path:
        return self.home / "server.log"

    @property
    def config_path(self) -> Path:
        return self.home / "server.properties"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def is_running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, max_bytes: int = _LOG_TAIL_BYTES) -> str:
        return _read_tail(self.log_path, max_bytes)


def _kill_all(procs: Iterable[subprocess.Popen[bytes]]) -> None:
    """Finalizer: SIGKILL whatever is still running (an owner that forgot to stop)."""
    for proc in procs:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait()


class KafkaCluster:
    """Apache Kafka in KRaft mode on 127.0.0.1: ``nodes`` combined controller + broker JVMs.

    ``with KafkaCluster(nodes=3) as kafka: kafka.bootstrap`` or :meth:`start` / :meth:`stop`.
    ``broker_config`` adds or overrides server properties on every node (a test that needs
    another setting passes it and says why). ``workdir`` keeps data and logs (default: a temp
    folder that :meth:`stop` removes). Each node's output goes to ``<node>/server.log``, never
    a pipe that could fill and block the JVM. ``sasl_ssl`` opens a secured client listener on
    every node as well (:attr:`secure_bootstrap`); the PLAINTEXT one stays.
    """

    def __init__(
        self,
        nodes: int = 1,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        heap_mb: int | None = None,
        broker_config: Mapping[str, str] | None = None,
        workdir: str | os.PathLike[str] | None = None,
        stop_timeout_s: float = 20.0,
        sasl_ssl: SaslSslListener | None = None,
    ) -> None:
        if nodes not in (1, 3):
            raise KafkaError(f"a cluster has 1 or 3 nodes, not {nodes}")
        if port is not None and nodes != 1:
            raise KafkaError("--port is for a single node; a quorum picks free ports")
        self.size = nodes
        self._host = host
        self._port = port
        self._heap_mb = heap_mb or (512 if nodes == 1 else 384)
        self._extra = dict(broker_config or {})
        self._user_workdir = Path(workdir) if workdir is not None else None
        self._workdir: Path | None = None
        self._stop_timeout_s = stop_timeout_s
        self.sasl_ssl = sasl_ssl
        self.nodes: list[KafkaNode] = []
        self._finalizer: weakref.finalize[..., KafkaCluster] | None = None

    # -- addresses ------------------------------------------------------------------------

    @property
    def bootstrap(self) -> str:
        """``host:port,...`` of every broker listener, for aiokafka's ``bootstrap_servers``."""
        if not self.nodes:
            raise KafkaError("cluster not started")
        return ",".join(f"{self._host}:{node.broker_port}" for node in self.nodes)

    @property
    def url(self) -> str:
        """``kafka://host:port;host:port`` for Faust's ``broker`` setting."""
        return "kafka://" + ";".join(f"{self._host}:{n.broker_port}" for n in self.nodes)

    @property
    def secure_bootstrap(self) -> str:
        """``host:port,...`` of every SASL_SSL listener (a cluster started with ``sasl_ssl``)."""
        return ",".join(f"{self._host}:{port}" for port in self._secure_ports())

    @property
    def secure_url(self) -> str:
        """``kafka://host:port;host:port`` of the SASL_SSL listeners, for ``STREAMS_BROKER``."""
        return "kafka://" + ";".join(f"{self._host}:{port}" for port in self._secure_ports())

    def _secure_ports(self) -> list[int]:
        if not self.nodes:
            raise KafkaError("cluster not started")
        ports = [node.secure_port for node in self.nodes if node.secure_port is not None]
        if self.sasl_ssl is None or len(ports) != len(self.nodes):
            raise KafkaError("this cluster has no SASL_SSL listener (pass sasl_ssl=...)")
        return ports

    def node(self, node_id: int) -> KafkaNode:
        for node in self.nodes:
            if node.node_id == node_id:
                return node
        raise KafkaError(f"no node {node_id} (nodes: {[n.node_id for n in self.nodes]})")

    # -- configuration --------------------------------------------------------------------

    def server_properties(self, node: KafkaNode) -> dict[str, str]:
        """The node's ``server.properties``: defaults, the cluster's replication, overrides."""
        voters = ",".join(f"{n.node_id}@{self._host}:{n.controller_port}" for n in self.nodes)
        replicas = str(self.size)
        min_isr = "2" if self.size >= 3 else "1"
        listeners = [f"PLAINTEXT://{self._host}:{node.broker_port}"]
        protocols = ["PLAINTEXT:PLAINTEXT", "CONTROLLER:PLAINTEXT"]
        secured: dict[str, str] = {}
        if self.sasl_ssl is not None and node.secure_port is not None:
            listeners.append(f"{SASL_SSL_LISTENER}://{self._host}:{node.secure_port}")
            protocols.append(f"{SASL_SSL_LISTENER}:SASL_SSL")
            secured = self.sasl_ssl.server_properties()
        props = {
            "process.roles": "broker,controller",
            "node.id": str(node.node_id),
            "controller.quorum.voters": voters,
            "listeners": ",".join(
                [*listeners, f"CONTROLLER://{self._host}:{node.controller_port}"]
            ),
            "advertised.listeners": ",".join(listeners),
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": ",".join(protocols),
            "log.dirs": str(node.home / "data"),
            # What a cluster of this size can hold (3 nodes: as k8s/base/kafkatopics.yaml).
            "default.replication.factor": replicas,
            "min.insync.replicas": min_isr,
            "offsets.topic.replication.factor": replicas,
            "transaction.state.log.replication.factor": replicas,
            "transaction.state.log.min.isr": min_isr,
            "share.coordinator.state.topic.replication.factor": replicas,
            "share.coordinator.state.topic.min.isr": min_isr,
        }
        return props | secured | TEST_BROKER_CONFIG | self._extra

    def _write_config(self, node: KafkaNode) -> None:
        node.home.mkdir(parents=True, exist_ok=True)
        lines = [f"{key}={value}" for key, value in self.server_properties(node).items()]
        node.config_path.write_text("\n".join(lines) + "\n")
        (node.home / "log4j2.yaml").write_text(_LOG4J2)

    def _java(self, node: KafkaNode, main: str, *args: str, heap_mb: int) -> list[str]:
        return [
            java_binary(),
            f"-Xmx{heap_mb}m",
            f"-Xms{min(heap_mb, 128)}m",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-XX:+ExitOnOutOfMemoryError",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={node.home / 'log4j2.yaml'}",
            f"-Dkafka.logs.dir={node.home}",
            "-cp",
            self._classpath,
            main,
            *args,
        ]

    # -- lifecycle ------------------------------------------------------------------------

    def start(self, *, timeout_s: float = 120.0) -> str:
        """Format and start every node; return the bootstrap once metadata lists them all.

        With free ports picked here, a node that exits at start-up (another process took its
        port in between) makes the whole cluster retry on new ports, up to 3 times; an
        explicit ``port`` is never replaced.
        """
        if self.nodes:
            raise KafkaError(f"cluster already started on {self.bootstrap}")
        self._classpath = kafka_classpath()
        java_binary()
        if self._port is not None and not port_is_free(self._host, self._port):
            raise KafkaError(f"port {self._host}:{self._port} is already in use")
        deadline = time.monotonic() + timeout_s
        attempts = 1 if self._port is not None else _PORT_ATTEMPTS
        for attempt in range(1, attempts + 1):
            self._prepare()
            try:
                self._format_all(deadline)
                for node in self.nodes:
                    self._launch(node)
                self.wait_ready(deadline=deadline)
                return self.bootstrap
            except KafkaError as exc:
                port_lost = "Address already in use" in str(exc)
                self._teardown(remove=self._user_workdir is None or attempt < attempts)
                if not port_lost or attempt == attempts or time.monotonic() >= deadline:
                    raise
        raise AssertionError("unreachable")

    def _prepare(self) -> None:
        if self._user_workdir is not None:
            self._workdir = self._user_workdir
            self._workdir.mkdir(parents=True, exist_ok=True)
        else:
            self._workdir = Path(tempfile.mkdtemp(prefix="streams-kafka-"))
        per_node = 2 if self.sasl_ssl is None else 3
        ports = _free_ports(per_node * self.size, self._host)
        if self._port is not None:
            ports[0] = self._port
        self.nodes = [
            KafkaNode(
                node_id=i + 1,
                broker_port=ports[per_node * i],
                controller_port=ports[per_node * i + 1],
                home=self._workdir / f"node-{i + 1}",
                secure_port=ports[per_node * i + 2] if self.sasl_ssl is not None else None,
            )
            for i in range(self.size)
        ]
        for node in self.nodes:
            self._write_config(node)
        self._spawned: list[subprocess.Popen[bytes]] = []
        self._finalizer = weakref.finalize(self, _kill_all, self._spawned)

    def _format_all(self, deadline: float) -> None:
        """``kafka-storage format`` on every node, in parallel (a JVM start each)."""
        cluster_id = _cluster_id()
        running = []
        for node in self.nodes:
            log = (node.home / "format.log").open("wb")
            command = self._java(
                node,
                "kafka.tools.StorageTool",
                "format",
                "--cluster-id",
                cluster_id,
                "--config",
                str(node.config_path),
                *(self.sasl_ssl.format_arguments() if self.sasl_ssl is not None else []),
                heap_mb=256,
            )
            running.append((node, subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)))  # noqa: S603
            log.close()
        for node, proc in running:
            try:
                code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                code = None
            if code != 0:
                tail = _read_tail(node.home / "format.log")
                raise KafkaError(f"formatting node {node.node_id} failed ({code}):\n{tail}")

    def _launch(self, node: KafkaNode) -> None:
        command = self._java(node, "kafka.Kafka", str(node.config_path), heap_mb=self._heap_mb)
        log: IO[bytes]
        with node.log_path.open("ab") as log:
            node.proc = subprocess.Popen(  # noqa: S603 - our own arguments, no shell
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent,
            )
        self._spawned.append(node.proc)

    def wait_ready(self, *, deadline: float | None = None, timeout_s: float = 120.0) -> None:
        """Until every running node's metadata lists every running broker, or fail loudly."""
        deadline = deadline if deadline is not None else time.monotonic() + timeout_s
        delay = 0.05
        while True:
            running = [node for node in self.nodes if node.proc is not None]
            for node in running:
                code = node.proc.poll() if node.proc is not None else None
                if code is not None:
                    raise KafkaError(
                        f"Kafka node {node.node_id} exited with code {code} at start-up "
                        f"(port {node.broker_port}); log tail:\n{node.log_tail()}"
                    )
            wanted = {node.broker_port for node in running}
            if all(
                wanted <= set(metadata_brokers(self._host, node.broker_port)) for node in running
            ) and all(_accepts(self._host, node.secure_port) for node in running):
                return
            if time.monotonic() >= deadline:
                node = running[0] if running else self.nodes[0]
                raise KafkaError(
                    f"Kafka did not list all {len(wanted)} brokers in time; node "
                    f"{node.node_id}'s log tail:\n{node.log_tail()}"
                )
            time.sleep(delay)
            delay = min(delay * 2, 0.5)

    def kill_node(self, node_id: int, sig: signal.Signals = signal.SIGKILL) -> None:
        """Send ``sig`` to one node and reap it (SIGKILL: a crash; SIGTERM: a clean stop)."""
        node = self.node(node_id)
        if node.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            node.proc.send_signal(sig)
        try:
            node.proc.wait(timeout=self._stop_timeout_s)
        except subprocess.TimeoutExpired:
            node.proc.kill()
            node.proc.wait()
        node.proc = None

    def start_node(self, node_id: int, *, timeout_s: float = 120.0) -> None:
        """Start a stopped node again on its ports and data; wait until it is listed again."""
        node = self.node(node_id)
        if node.is_running():
            raise KafkaError(f"node {node_id} is already running")
        self._launch(node)
        self.wait_ready(timeout_s=timeout_s)

    def check_alive(self) -> None:
        """Raise :class:`KafkaError` with the log tail if a node that should run has died."""
        for node in self.nodes:
            if node.proc is not None and node.proc.poll() is not None:
                raise KafkaError(
                    f"Kafka node {node.node_id} exited with code {node.proc.returncode}; "
                    f"log tail:\n{node.log_tail()}"
                )

    def stop(self, *, graceful: bool = True) -> None:
        """Stop every node (SIGTERM, SIGKILL after ``stop_timeout_s``; or SIGKILL at once).

        Removes the temp folder (a ``workdir`` passed in is kept). Idempotent.
        """
        self._teardown(remove=self._user_workdir is None, graceful=graceful)

    def _teardown(self, *, remove: bool, graceful: bool = False) -> None:
        procs = [node.proc for node in self.nodes if node.proc is not None]
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM if graceful else signal.SIGKILL)
        deadline = time.monotonic() + self._stop_timeout_s
        for proc in procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        for node in self.nodes:
            node.proc = None
        if remove and self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
        self.nodes = []
        self._workdir = None

    def __enter__(self) -> Self:
        if not self.nodes:
            self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

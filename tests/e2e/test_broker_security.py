"""TLS and SASL against a real Apache Kafka, configured as Strimzi's SCRAM listener.

A module-scoped single-node Kafka opens a SASL_SSL listener (SCRAM-SHA-512, a server
certificate for 127.0.0.1 signed by a CA made here, the SCRAM user created when the storage
is formatted) next to its PLAINTEXT one, which only the brokers and this module's admin step
(creating the topics, as Strimzi's Topic Operator would) use. Every command under test is a
subprocess configured only by the documented ``STREAMS_BROKER*`` settings pointing at the
secured listener:

* the worker, ``streams produce``, ``tail``, ``replay`` and ``verify`` work end to end (a
  change published over SASL_SSL is applied and its outcome read back over SASL_SSL; a failed
  one is replayed and verified);
* a wrong password and a CA file that did not sign the server each stop every command at start
  with exit 1 and one line naming the problem, within a bound that fails the test loudly;
* no password ever shows in any output or log, the broker's included.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from streams.client.connection import (
    BrokerConnectionError,
    BrokerSettings,
    check_connection,
)
from streams.client.connection import _describe as describe_failure
from streams_devkit.broker import create_topics, free_port
from streams_devkit.kafka import KafkaCluster, KafkaError, KafkaNode, SaslSslListener
from streams_devkit.tls import TestPki, make_test_pki
from tests.fixtures.broker import running
from tests.fixtures.guarantees import wait_for
from tests.fixtures.pipeline import PARTITIONS, Pipeline

USER = "streams-worker"
#: Distinctive, so that finding it anywhere in an output is certain to be a leak.
PASSWORD = "scram-Pa55-7f3a9c1e"
WRONG_PASSWORD = "wrong-Pa55-e8d1c0b4"

CLI = [sys.executable, "-m", "streams"]
#: A command that neither succeeds nor fails within this long is hanging: the test fails.
START_BOUND_S = 60.0
#: Reading outcomes in follow mode until the wanted count arrived.
OUTCOME_BOUND_S = 120.0


@dataclass(frozen=True)
class Secured:
    """The secured cluster and the two authorities: the one that signed it, and a stranger."""

    cluster: KafkaCluster
    pki: TestPki
    stranger: TestPki

    def env(self, **overrides: str) -> dict[str, str]:
        """The worker's documented settings for the SASL_SSL listener (k8s/base's)."""
        return {
            "STREAMS_BROKER": self.cluster.secure_url,
            "STREAMS_BROKER_SECURITY_PROTOCOL": "SASL_SSL",
            "STREAMS_BROKER_SASL_MECHANISM": "SCRAM-SHA-512",
            "STREAMS_BROKER_SASL_USERNAME": USER,
            "STREAMS_BROKER_SASL_PASSWORD": PASSWORD,
            "STREAMS_BROKER_CA_FILE": str(self.pki.ca_file),
            # As in production: topics exist, the worker creates none.
            "STREAMS_TOPIC_ALLOW_DECLARE": "false",
        } | overrides

    def broker_logs(self) -> str:
        homes = [node.home for node in self.cluster.nodes]
        return "".join(
            path.read_text(errors="replace")
            for home in homes
            for path in (home / "server.log", home / "format.log", home / "server.properties")
        )


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    base = tmp_path_factory.mktemp("broker-security")
    pki = make_test_pki(base / "trusted")
    stranger = make_test_pki(base / "stranger", name="a CA that signed nothing here")
    listener = SaslSslListener(keystore=pki.keystore_file, users={USER: PASSWORD})
    with running(KafkaCluster(nodes=1, sasl_ssl=listener)) as cluster:
        yield Secured(cluster, pki, stranger)


@pytest.fixture
def secured_pipeline(
    secured: Secured, topic_prefix: str, emulator_factory: Callable[..., Any], tmp_path: Path
) -> Iterator[tuple[Pipeline, Any]]:
    """A Pipeline whose worker and CLI environment is the secured listener's; topics made."""
    emulator = emulator_factory()
    pipe = Pipeline(secured.cluster.bootstrap, topic_prefix, emulator.url, tmp_path)
    pipe.env_overrides.update(secured.env())
    app = f"{topic_prefix}app"
    # The topics Strimzi would hold (k8s/base/kafkatopics.yaml), plus the crash guard's
    # changelog, made on the PLAINTEXT listener as an operator would.
    topics = dict.fromkeys([pipe.changes, pipe.outcomes, pipe.dead_letters], PARTITIONS)
    topics |= {
        f"{app}-last-applied-changelog": PARTITIONS,
        f"{app}-window-crashes-changelog": PARTITIONS,
        f"{app}-__assignor-__leader": 1,
    }
    asyncio.run(create_topics(secured.cluster.bootstrap, topics))
    try:
        yield pipe, emulator
    finally:
        pipe.stop()


def run(
    args: list[str], env: dict[str, str], *, bound_s: float = START_BOUND_S, stdin: bytes = b""
) -> subprocess.CompletedProcess[bytes]:
    """Run a command; one still running after ``bound_s`` is a hang and fails the test."""
    try:
        return subprocess.run(args, env=env, input=stdin, capture_output=True, timeout=bound_s)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(
            f"{' '.join(args[2:])} still running after {bound_s:g} s (a hang):\n"
            f"{(exc.stderr or b'').decode(errors='replace')[-3000:]}"
        )


def assert_no_secret(*texts: str | bytes) -> None:
    for text in texts:
        shown = text.decode(errors="replace") if isinstance(text, bytes) else text
        for secret in (PASSWORD, WRONG_PASSWORD):
            assert secret not in shown, f"a password was shown:\n{shown[-2000:]}"


def change(event_id: str, user: str, conversation: str, data: str) -> bytes:
    return orjson.dumps({"event_id": event_id, "user_id": user, "conversation_id": conversation,
                         "custom_data": data, "occurred_at": "2026-11-25T10:00:00Z"})  # fmt: skip


def tail(pipe: Pipeline, count: int) -> tuple[list[dict[str, Any]], bytes]:
    """``streams tail`` following the outcomes topic until ``count`` authoritative outcomes."""
    done = run([*CLI, "tail", "--idle", "0", "--max", str(count)], pipe.env(),
               bound_s=OUTCOME_BOUND_S)  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    return [orjson.loads(line) for line in done.stdout.splitlines()], done.stderr


# The worker and every CLI command over SASL_SSL, end to end --------------------------------


def test_worker_and_cli_over_sasl_ssl_end_to_end(
    secured: Secured, secured_pipeline: tuple[Pipeline, Any]
) -> None:
    pipe, emulator = secured_pipeline
    outputs: list[bytes] = []
    pipe.start_worker(STREAMS_SDK_RETRY_DEADLINE_S="1", STREAMS_SDK_RETRY_CAP_S="0.2")

    published = run([*CLI, "produce", "--positions"], pipe.env(),
                    stdin=change("e-applied", "alice", "c2c_bob", "pinned"))  # fmt: skip
    outputs += [published.stdout, published.stderr]
    assert published.returncode == 0, published.stderr.decode()
    position = orjson.loads(published.stdout)
    outcomes, err = tail(pipe, 1)
    outputs.append(err)
    assert [(o["event_id"], o["status"]) for o in outcomes] == [("e-applied", "applied")]
    assert outcomes[0]["source"] == {"topic": pipe.changes, **position}
    assert emulator.state("alice") == {"c2c_bob": "pinned"}

    # An IM outage: the next change fails; replay re-publishes it over SASL_SSL once it is over.
    emulator.set_knobs(fail_rate=1.0)
    failing = run([*CLI, "produce"], pipe.env(), stdin=change("e-failed", "bob", "group_g", "on"))
    outputs += [failing.stdout, failing.stderr]
    assert failing.returncode == 0, failing.stderr.decode()
    outcomes, err = tail(pipe, 2)
    outputs.append(err)
    assert {o["event_id"]: o["status"] for o in outcomes} == {
        "e-applied": "applied",
        "e-failed": "failed",
    }
    emulator.set_knobs(fail_rate=0.0)
    replayed = run([*CLI, "replay"], pipe.env())
    outputs += [replayed.stdout, replayed.stderr]
    assert replayed.returncode == 0, replayed.stderr.decode()
    assert [orjson.loads(line)["event_id"] for line in replayed.stdout.splitlines()] == ["e-failed"]
    assert b"re-published 1 failed events; 0 source records gone" in replayed.stderr

    outcomes, err = tail(pipe, 3)
    outputs.append(err)
    assert sorted((o["event_id"], o["status"]) for o in outcomes) == [
        ("e-applied", "applied"),
        ("e-failed", "applied"),
        ("e-failed", "failed"),
    ]
    assert emulator.state("bob") == {"group_g": "on"}

    verified = run([*CLI, "verify"], pipe.env())
    outputs += [verified.stdout, verified.stderr]
    assert verified.returncode == 0, verified.stderr.decode()
    assert b"checked 2 conversations: 0 differ, 0 users unreadable" in verified.stderr

    pipe.stop()
    assert "owning 4 partitions" in pipe.worker_log()
    # A new worker recovers the table over SASL_SSL with its bulk reader (a second consumer,
    # connected as the worker's: streams.engine.recovery).
    pipe.start_worker()
    wait_for(lambda: "records read in bulk" in pipe.worker_log(1), 60, "a bulk table recovery")
    pipe.stop()
    assert_no_secret(*outputs, pipe.worker_log(), pipe.worker_log(1), secured.broker_logs())


# Wrong credentials and an untrusted certificate: one clear line at start, never a hang ---------

COMMANDS = {
    "worker": ["worker"],
    "produce": ["produce"],
    "tail": ["tail", "--idle", "0"],  # would follow forever once connected
    "replay": ["replay"],
    "verify": ["verify"],
}


def assert_one_clear_line(done: subprocess.CompletedProcess[bytes], starts: str) -> str:
    """Exit 1, nothing on stdout, stderr one ``Error:`` line beginning ``starts``, no secret."""
    err = done.stderr.decode(errors="replace")
    assert done.returncode == 1, err
    assert done.stdout == b"", err
    assert "Traceback" not in err and "Unable to bootstrap" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: {starts}"), err
    assert_no_secret(done.stdout, done.stderr)
    return lines[0]


@pytest.mark.parametrize("command", COMMANDS)
def test_a_wrong_password_stops_every_command_naming_the_credentials(
    secured: Secured, command: str, tmp_path: Path
) -> None:
    pipe = Pipeline(secured.cluster.bootstrap, "t-wrong-", "http://127.0.0.1:9", tmp_path)
    env = pipe.env(**secured.env(STREAMS_BROKER_SASL_PASSWORD=WRONG_PASSWORD))
    stdin = change("e1", "alice", "c2c_bob", "x") if command == "produce" else b""
    done = run([*CLI, *COMMANDS[command]], env, stdin=stdin)
    line = assert_one_clear_line(done, "the broker rejected the SASL credentials: ")
    assert f"SCRAM-SHA-512 authentication failed for user '{USER}'" in line
    assert "STREAMS_BROKER_SASL_PASSWORD" in line
    assert_no_secret(secured.broker_logs())


@pytest.mark.parametrize("command", COMMANDS)
def test_an_untrusted_certificate_stops_every_command_naming_the_ca_file(
    secured: Secured, command: str, tmp_path: Path
) -> None:
    pipe = Pipeline(secured.cluster.bootstrap, "t-untrusted-", "http://127.0.0.1:9", tmp_path)
    ca = str(secured.stranger.ca_file)
    env = pipe.env(**secured.env(STREAMS_BROKER_CA_FILE=ca))
    stdin = change("e1", "alice", "c2c_bob", "x") if command == "produce" else b""
    done = run([*CLI, *COMMANDS[command]], env, stdin=stdin)
    line = assert_one_clear_line(done, "the broker's TLS certificate is not trusted: ")
    assert "certificate verify failed" in line or "self-signed certificate" in line, line
    assert f"STREAMS_BROKER_CA_FILE={ca}" in line


# The check itself, in process --------------------------------------------------------------


def secured_settings(secured: Secured, **overrides: Any) -> BrokerSettings:
    given: dict[str, Any] = {
        "broker": secured.cluster.secure_url,
        "broker_security_protocol": "SASL_SSL",
        "broker_sasl_mechanism": "SCRAM-SHA-512",
        "broker_sasl_username": USER,
        "broker_sasl_password": PASSWORD,
        "broker_ca_file": secured.pki.ca_file,
    }
    return BrokerSettings(**(given | overrides))


@pytest.mark.parametrize(
    ("overrides", "headline", "detail"),
    [
        # Strimzi's SCRAM listener, like this one, enables SCRAM-SHA-512 only.
        ({"broker_sasl_mechanism": "SCRAM-SHA-256"}, "the broker refused the SASL mechanism",
         "SCRAM-SHA-256 is not enabled on this listener"),
        ({"broker_sasl_username": "nobody"}, "the broker rejected the SASL credentials",
         "failed for user 'nobody'"),
        ({"broker_ca_file": None}, "the broker's TLS certificate is not trusted",
         "the system CAs (STREAMS_BROKER_CA_FILE is unset)"),
        # TLS without SASL, and no TLS, on the SASL_SSL listener.
        ({"broker_security_protocol": "SSL"}, "cannot reach the broker",
         "SECURITY_PROTOCOL=SSL match the listener"),
        ({"broker_security_protocol": "PLAINTEXT"}, "cannot reach the broker",
         "SECURITY_PROTOCOL=PLAINTEXT match the listener"),
    ],
    ids=["mechanism", "user", "no-ca-file", "ssl-only", "plaintext"],
)  # fmt: skip
async def test_check_connection_names_each_problem_without_the_password(
    secured: Secured, overrides: dict[str, Any], headline: str, detail: str
) -> None:
    await check_connection(secured_settings(secured))  # the right settings connect
    with pytest.raises(BrokerConnectionError) as raised:
        await check_connection(secured_settings(secured, **overrides), timeout_s=START_BOUND_S)
    assert str(raised.value).startswith(f"{headline}: {secured.cluster.secure_bootstrap}: ")
    assert detail in str(raised.value)
    assert_no_secret(str(raised.value), repr(raised.value))


async def test_check_connection_on_the_plaintext_listener_with_tls(secured: Secured) -> None:
    plaintext = f"kafka://{secured.cluster.bootstrap}"
    with pytest.raises(BrokerConnectionError, match=r"^cannot reach the broker: ") as raised:
        await check_connection(secured_settings(secured, broker=plaintext))
    assert "SASL_SSL" in str(raised.value)


async def test_check_connection_tries_every_bootstrap_server(secured: Secured) -> None:
    """A server that refuses is passed over for the next; when all fail, each is named."""
    closed = f"127.0.0.1:{free_port()}"
    both = f"kafka://{closed};{secured.cluster.secure_url.removeprefix('kafka://')}"
    await check_connection(secured_settings(secured, broker=both))
    with pytest.raises(BrokerConnectionError) as raised:
        await check_connection(secured_settings(secured, broker=both, broker_sasl_password="x"))
    message = str(raised.value)
    assert message.startswith(f"cannot reach the broker: {closed}: ")
    assert f"; {secured.cluster.secure_bootstrap}: SCRAM-SHA-512 authentication failed" in message


async def test_the_certificate_names_localhost_too(secured: Secured) -> None:
    port = secured.cluster.secure_bootstrap.rpartition(":")[2]
    await check_connection(secured_settings(secured, broker=f"kafka://localhost:{port}"))


def test_a_certificate_for_another_name_is_named_so(secured: Secured) -> None:
    """A real handshake with the broker under a name its certificate does not list."""
    settings = secured_settings(secured)
    context = settings.ssl_context()
    assert context is not None
    host, _, port = secured.cluster.secure_bootstrap.rpartition(":")
    with socket.create_connection((host, int(port)), timeout=START_BOUND_S) as sock:
        with pytest.raises(ssl.SSLCertVerificationError) as raised:
            context.wrap_socket(sock, server_hostname="broker.example")
    headline, detail = describe_failure(raised.value, settings, 1.0)
    assert headline == "the broker's TLS certificate is for another name"
    assert "broker.example" in detail


# Without a secured listener, the cluster's configuration is what it was -----------------------


def test_a_cluster_without_sasl_ssl_configures_plaintext_only(tmp_path: Path) -> None:
    node = KafkaNode(node_id=1, broker_port=9100, controller_port=9101, home=tmp_path)
    props = KafkaCluster(nodes=1).server_properties(node)
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:9100,CONTROLLER://127.0.0.1:9101"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:9100"
    assert props["listener.security.protocol.map"] == "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
    assert not [key for key in props if "sasl" in key or "ssl" in key]


def test_the_secured_listener_adds_sasl_ssl_beside_plaintext(tmp_path: Path) -> None:
    listener = SaslSslListener(keystore=tmp_path / "ks.pem", users={USER: PASSWORD})
    node = KafkaNode(1, 9100, 9101, tmp_path, secure_port=9102)
    props = KafkaCluster(nodes=1, sasl_ssl=listener).server_properties(node)
    assert props["listeners"] == (
        "PLAINTEXT://127.0.0.1:9100,SASL_SSL://127.0.0.1:9102,CONTROLLER://127.0.0.1:9101"
    )
    assert props["inter.broker.listener.name"] == "PLAINTEXT"
    assert props["listener.name.sasl_ssl.sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert props["listener.name.sasl_ssl.ssl.keystore.type"] == "PEM"
    assert_no_secret("\n".join(f"{k}={v}" for k, v in props.items()))


@pytest.mark.parametrize("password", ["has,comma", "has]bracket", "has space", ""])
def test_a_password_kafka_storage_cannot_carry_is_refused_unshown(
    tmp_path: Path, password: str
) -> None:
    with pytest.raises(KafkaError, match="SCRAM user 'svc'") as raised:
        SaslSslListener(keystore=tmp_path / "ks.pem", users={"svc": password})
    assert password == "" or password not in str(raised.value)

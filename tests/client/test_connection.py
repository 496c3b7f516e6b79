"""BrokerSettings: the aiokafka options of each security protocol, the TLS context really
trusting the CA file and checking hostnames, SASL settings that fail clearly without leaking
the password; and the CLI really attempting TLS when told to."""

from __future__ import annotations

import os
import re
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaClient

from streams.client import BrokerSettings, SecurityProtocol
from streams.errors import ConfigError
from streams.settings import Settings
from streams.settings_base import load_settings

PASSWORD = "pa55-Wörd-never-shown"
CLI = [sys.executable, "-m", "streams"]
CHANGE = (
    b'{"event_id":"e1","user_id":"alice","conversation_id":"c2c_bob","custom_data":"x",'
    b'"occurred_at":"2026-11-25T10:00:00Z"}\n'
)


@pytest.fixture(autouse=True)
def no_streams_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the variables a test sets count."""
    for name in list(os.environ):
        if name.startswith("STREAMS_"):
            monkeypatch.delenv(name)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A self-signed CA and a server certificate it signed for localhost (openssl CLI)."""
    d = tmp_path_factory.mktemp("pki")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True, timeout=30)

    openssl(
        "req",
        "-x509",
        *ec,
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=streams test CA",
    )
    openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost")
    (d / "ext.cnf").write_text(
        "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n"
        "extendedKeyUsage=serverAuth\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n"
    )
    openssl(
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    )
    return {"ca": d / "ca.pem", "cert": d / "server.pem", "key": d / "server.key"}


def handshake(client: ssl.SSLContext, server_hostname: str, pki: dict[str, Path]) -> None:
    """A TLS handshake in memory with a server presenting the CA-signed localhost certificate;
    raises what the client raises (ssl.SSLCertVerificationError when it refuses the server)."""
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(pki["cert"], pki["key"])
    to_server, to_client = ssl.MemoryBIO(), ssl.MemoryBIO()
    s_in, s_out = ssl.MemoryBIO(), ssl.MemoryBIO()
    c = client.wrap_bio(to_client, to_server, server_hostname=server_hostname)
    s = server.wrap_bio(s_in, s_out, server_side=True)
    client_done = server_done = False
    for _ in range(10):
        if not client_done:
            try:
                c.do_handshake()
                client_done = True
            except ssl.SSLWantReadError:
                pass
        s_in.write(to_server.read())
        if not server_done:
            try:
                s.do_handshake()
                server_done = True
            except ssl.SSLWantReadError:
                pass
        to_client.write(s_out.read())
        if client_done and server_done:
            return
    raise AssertionError("the handshake did not finish")


def test_plaintext_options_are_the_servers_and_the_protocol_only() -> None:
    settings = BrokerSettings(broker="kafka://h1:9092; kafka://h2:9093")
    assert settings.broker_security_protocol is SecurityProtocol.PLAINTEXT
    assert settings.ssl_context() is None
    assert settings.aiokafka_options() == {
        "bootstrap_servers": "h1:9092,h2:9093",
        "security_protocol": "PLAINTEXT",
    }


def test_ssl_context_trusts_the_ca_file_and_checks_hostnames(pki: dict[str, Path]) -> None:
    settings = BrokerSettings(broker_security_protocol="SSL", broker_ca_file=pki["ca"])
    options = settings.aiokafka_options()
    assert set(options) == {"bootstrap_servers", "security_protocol", "ssl_context"}
    assert options["security_protocol"] == "SSL"
    context = options["ssl_context"]
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
    assert [dict(x[0] for x in c["subject"]) for c in context.get_ca_certs()] == [
        {"commonName": "streams test CA"}
    ]
    handshake(context, "localhost", pki)  # the CA file makes the server trusted
    with pytest.raises(ssl.SSLCertVerificationError, match=r"[Hh]ostname mismatch"):
        handshake(settings.aiokafka_options()["ssl_context"], "broker.example", pki)


def test_ssl_without_a_ca_file_does_not_trust_a_private_ca(pki: dict[str, Path]) -> None:
    context = BrokerSettings(broker_security_protocol="SSL").ssl_context()
    assert context is not None and context.check_hostname
    with pytest.raises(ssl.SSLCertVerificationError, match="unable to get local issuer"):
        handshake(context, "localhost", pki)


@pytest.mark.parametrize(
    ("protocol", "mechanism"),
    [
        ("SASL_PLAINTEXT", "PLAIN"),
        ("SASL_PLAINTEXT", "SCRAM-SHA-256"),
        ("SASL_SSL", "PLAIN"),
        ("SASL_SSL", "SCRAM-SHA-512"),
    ],
)
async def test_sasl_options(protocol: str, mechanism: str, pki: dict[str, Path]) -> None:
    settings = BrokerSettings(
        broker="kafka://b:9096",
        broker_security_protocol=protocol,
        broker_sasl_mechanism=mechanism,
        broker_sasl_username="svc",
        broker_sasl_password=PASSWORD,
        broker_ca_file=pki["ca"],
        # PLAIN without TLS is refused unless allowed (test_sasl_plain_without_tls_...).
        broker_allow_insecure_sasl=True,
    )
    options = settings.aiokafka_options()
    context = options.pop("ssl_context", None)
    assert options == {
        "bootstrap_servers": "b:9096",
        "security_protocol": protocol,
        "sasl_mechanism": mechanism,
        "sasl_plain_username": "svc",
        "sasl_plain_password": PASSWORD,
    }
    if protocol == "SASL_SSL":
        assert isinstance(context, ssl.SSLContext) and context.check_hostname
        handshake(context, "localhost", pki)
    else:
        assert context is None
    # aiokafka takes them as they are (it checks the combination when constructed).
    client = AIOKafkaClient(**settings.aiokafka_options())
    await client.close()


@pytest.mark.parametrize("model", [BrokerSettings, Settings])
@pytest.mark.parametrize(
    "given",
    [
        {"STREAMS_BROKER_SASL_USERNAME": "svc", "STREAMS_BROKER_SASL_PASSWORD": PASSWORD},
        {"STREAMS_BROKER_SASL_MECHANISM": "PLAIN", "STREAMS_BROKER_SASL_PASSWORD": PASSWORD},
        {"STREAMS_BROKER_SASL_MECHANISM": "SCRAM-SHA-256", "STREAMS_BROKER_SASL_USERNAME": "svc"},
    ],
    ids=["no-mechanism", "no-username", "no-password"],
)
@pytest.mark.parametrize("protocol", ["SASL_PLAINTEXT", "SASL_SSL"])
def test_incomplete_sasl_is_a_config_error_naming_the_variables(
    monkeypatch: pytest.MonkeyPatch,
    model: type[BrokerSettings],
    given: dict[str, str],
    protocol: str,
) -> None:
    monkeypatch.setenv("STREAMS_BROKER_SECURITY_PROTOCOL", protocol)
    for name, value in given.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as raised:
        load_settings(model)
    message = str(raised.value)
    for name in ("MECHANISM", "USERNAME", "PASSWORD"):
        assert f"STREAMS_BROKER_SASL_{name}" in message
    assert PASSWORD not in message and PASSWORD not in repr(raised.value)


@pytest.mark.parametrize("model", [BrokerSettings, Settings])
def test_sasl_plain_without_tls_is_refused_unless_explicitly_allowed(
    monkeypatch: pytest.MonkeyPatch, model: type[BrokerSettings]
) -> None:
    """PLAIN over SASL_PLAINTEXT sends the password in clear: a config error naming the way out
    (SASL_SSL, or the opt-in), never the password; SCRAM without TLS and PLAIN with TLS pass."""
    monkeypatch.setenv("STREAMS_BROKER_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("STREAMS_BROKER_SASL_MECHANISM", "PLAIN")
    monkeypatch.setenv("STREAMS_BROKER_SASL_USERNAME", "svc")
    monkeypatch.setenv("STREAMS_BROKER_SASL_PASSWORD", PASSWORD)
    with pytest.raises(ConfigError) as raised:
        load_settings(model)
    message = str(raised.value)
    assert "SASL PLAIN over SASL_PLAINTEXT sends the password unencrypted" in message
    assert "STREAMS_BROKER_SECURITY_PROTOCOL=SASL_SSL" in message
    assert "STREAMS_BROKER_ALLOW_INSECURE_SASL=true" in message
    assert PASSWORD not in message and PASSWORD not in repr(raised.value)

    monkeypatch.setenv("STREAMS_BROKER_ALLOW_INSECURE_SASL", "true")
    assert load_settings(model).aiokafka_options()["sasl_mechanism"] == "PLAIN"
    monkeypatch.delenv("STREAMS_BROKER_ALLOW_INSECURE_SASL")
    monkeypatch.setenv("STREAMS_BROKER_SASL_MECHANISM", "SCRAM-SHA-512")
    assert load_settings(model).broker_sasl_mechanism == "SCRAM-SHA-512"
    monkeypatch.setenv("STREAMS_BROKER_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("STREAMS_BROKER_SASL_MECHANISM", "PLAIN")
    assert load_settings(model).broker_sasl_mechanism == "PLAIN"


def test_a_bad_mechanism_is_named_without_the_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMS_BROKER_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("STREAMS_BROKER_SASL_MECHANISM", "GSSAPI")
    monkeypatch.setenv("STREAMS_BROKER_SASL_USERNAME", "svc")
    monkeypatch.setenv("STREAMS_BROKER_SASL_PASSWORD", PASSWORD)
    with pytest.raises(ConfigError, match="STREAMS_BROKER_SASL_MECHANISM") as raised:
        load_settings(BrokerSettings)
    assert PASSWORD not in str(raised.value)


def test_without_sasl_no_sasl_setting_is_needed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMS_BROKER_SECURITY_PROTOCOL", "SSL")
    assert load_settings(BrokerSettings).broker_sasl_mechanism is None


@pytest.mark.parametrize("model", [BrokerSettings, Settings])
def test_the_password_is_never_shown(
    monkeypatch: pytest.MonkeyPatch, model: type[BrokerSettings]
) -> None:
    monkeypatch.setenv("STREAMS_BROKER_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("STREAMS_BROKER_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("STREAMS_BROKER_SASL_USERNAME", "svc")
    monkeypatch.setenv("STREAMS_BROKER_SASL_PASSWORD", PASSWORD)
    settings = load_settings(model)
    assert settings.aiokafka_options()["sasl_plain_password"] == PASSWORD  # it is loaded
    shown = [
        repr(settings),
        str(settings),
        f"{settings}",
        settings.model_dump_json(),
        repr(settings.model_dump()),
        repr(settings.broker_sasl_password),
    ]
    for text in shown:
        assert PASSWORD not in text
    assert "svc" in repr(settings)  # the rest is shown


# The CLI end to end -------------------------------------------------------------------------


def cli_env(bootstrap: str, **extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("STREAMS_")}
    return base | {"STREAMS_BROKER": f"kafka://{bootstrap}", **extra}


def start_clients(bootstrap: str, changes: Path) -> list[subprocess.Popen[bytes]]:
    """``streams tail`` and ``streams produce`` told to use TLS, running concurrently."""
    env = cli_env(bootstrap, STREAMS_BROKER_SECURITY_PROTOCOL="SSL")
    commands = [
        ["tail", "--topic", "outcomes", "--idle", "1"],
        ["produce", "--topic", "changes", str(changes)],
    ]
    return [
        subprocess.Popen([*CLI, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for args in commands
    ]


def assert_clear_failure(process: subprocess.Popen[bytes], timeout: float) -> str:
    """Exit 1, nothing on stdout, the last stderr line a one-line error, no traceback."""
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise
    text = err.decode()
    assert process.returncode == 1, text
    assert out == b""
    assert "Traceback" not in text and "Unclosed" not in text, text
    errors = [line for line in text.splitlines() if line.startswith("Error:")]
    assert errors == [text.splitlines()[-1]], text
    assert errors[0].startswith("Error: cannot reach the broker: "), text
    return errors[0]


@pytest.fixture
def tls_listener() -> Iterator[tuple[str, list[bytes]]]:
    """A loopback TCP server that records the first bytes of each connection and hangs up."""
    server = socket.create_server(("127.0.0.1", 0))
    first: list[bytes] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(10)
                try:
                    first.append(conn.recv(3))
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.getsockname()[1]}", first
    finally:
        server.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept() (close alone does not)
        server.close()
        thread.join(timeout=10)


def test_cli_clients_speak_tls_when_told_and_fail_clearly(
    tls_listener: tuple[str, list[bytes]], tmp_path: Path
) -> None:
    """Against a listener that records the first bytes and hangs up: both commands open with a
    TLS ClientHello and end with one clear error line.

    Not against the plaintext embedded broker: Tansu reads the ClientHello's first four bytes
    as a request size (about 369 MB) and waits for that many, neither answering nor hanging up,
    so aiokafka gives up only after its request_timeout_ms (40 s); a Kafka broker refuses such
    a size and closes at once."""
    changes = tmp_path / "changes.jsonl"
    changes.write_bytes(CHANGE)
    bootstrap, first = tls_listener
    for process in start_clients(bootstrap, changes):
        assert_clear_failure(process, timeout=60)
    # Both opened with a TLS handshake record (type 22, version 3.x): a ClientHello.
    assert len(first) >= 2, first
    assert all(re.fullmatch(rb"\x16\x03[\x00-\x04]", b) for b in first), first

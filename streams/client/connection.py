"""How to reach the Kafka cluster: bootstrap servers, TLS and SASL, shared by worker and client.

The worker's :class:`~streams.settings.Settings` extends :class:`BrokerSettings`, so the
publisher, the outcome reader and the CLI connect exactly as a worker configured by the same
``STREAMS_BROKER*`` variables would. :func:`check_connection` connects once the same way and
says why it could not (an untrusted certificate, refused credentials...): the worker and the
CLI call it before they start, since aiokafka itself only reports "Unable to bootstrap".
"""

from __future__ import annotations

import asyncio
import ssl
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class SecurityProtocol(StrEnum):
    """Kafka client security protocols (as in the Java client)."""

    PLAINTEXT = "PLAINTEXT"
    SSL = "SSL"
    SASL_PLAINTEXT = "SASL_PLAINTEXT"
    SASL_SSL = "SASL_SSL"


#: The protocols that encrypt, and the ones that authenticate with SASL.
TLS_PROTOCOLS = frozenset({SecurityProtocol.SSL, SecurityProtocol.SASL_SSL})
SASL_PROTOCOLS = frozenset({SecurityProtocol.SASL_PLAINTEXT, SecurityProtocol.SASL_SSL})


class BrokerSettings(BaseSettings):
    """The cluster and how to authenticate to it (``STREAMS_BROKER*``)."""

    model_config = SettingsConfigDict(env_prefix="STREAMS_", frozen=True, extra="ignore")

    broker: str = Field(
        default="kafka://localhost:9092",
        min_length=1,
        description="Bootstrap servers, `kafka://host:port`, several separated by `;`.",
    )
    broker_security_protocol: SecurityProtocol = Field(
        default=SecurityProtocol.PLAINTEXT,
        description="`PLAINTEXT`, `SSL`, `SASL_PLAINTEXT` or `SASL_SSL`, as in the Java client.",
    )
    broker_sasl_mechanism: str | None = Field(
        default=None,
        pattern=r"^(PLAIN|SCRAM-SHA-256|SCRAM-SHA-512)$",
        description="`PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512` (SASL protocols only).",
    )
    broker_sasl_username: str | None = Field(default=None, description="SASL user name.")
    broker_sasl_password: SecretStr | None = Field(
        default=None, description="SASL password (secret: never logged)."
    )
    broker_ca_file: Path | None = Field(
        default=None,
        description="CA bundle for the brokers' TLS certificates (system CAs if unset).",
    )
    broker_allow_insecure_sasl: bool = Field(
        default=False,
        description=(
            "Allow SASL `PLAIN` over `SASL_PLAINTEXT`, which sends the password unencrypted "
            "(refused otherwise: use `SASL_SSL`)."
        ),
    )

    @model_validator(mode="after")
    def _sasl_complete(self) -> BrokerSettings:
        if self.broker_security_protocol in SASL_PROTOCOLS and not (
            self.broker_sasl_mechanism and self.broker_sasl_username and self.broker_sasl_password
        ):
            raise ValueError(
                "SASL needs STREAMS_BROKER_SASL_MECHANISM, STREAMS_BROKER_SASL_USERNAME and "
                "STREAMS_BROKER_SASL_PASSWORD"
            )
        if (
            self.broker_security_protocol is SecurityProtocol.SASL_PLAINTEXT
            and self.broker_sasl_mechanism == "PLAIN"
            and not self.broker_allow_insecure_sasl
        ):
            raise ValueError(
                "SASL PLAIN over SASL_PLAINTEXT sends the password unencrypted: set "
                "STREAMS_BROKER_SECURITY_PROTOCOL=SASL_SSL (or, knowingly, "
                "STREAMS_BROKER_ALLOW_INSECURE_SASL=true)"
            )
        return self

    @property
    def bootstrap_servers(self) -> str:
        """The servers in aiokafka's form."""
        return bootstrap_of(self.broker)

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context (hostname and certificate checked), or None without TLS."""
        if self.broker_security_protocol not in TLS_PROTOCOLS:
            return None
        cafile = str(self.broker_ca_file) if self.broker_ca_file else None
        return ssl.create_default_context(cafile=cafile)

    def aiokafka_options(self) -> dict[str, Any]:
        """Keyword arguments for an ``AIOKafkaProducer`` or ``AIOKafkaConsumer``."""
        options: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap_servers,
            "security_protocol": self.broker_security_protocol.value,
        }
        context = self.ssl_context()
        if context is not None:
            options["ssl_context"] = context
        if self.broker_security_protocol in SASL_PROTOCOLS:
            assert self.broker_sasl_password is not None  # checked by _sasl_complete
            options |= {
                "sasl_mechanism": self.broker_sasl_mechanism,
                # aiokafka takes these for SCRAM too.
                "sasl_plain_username": self.broker_sasl_username,
                "sasl_plain_password": self.broker_sasl_password.get_secret_value(),
            }
        return options


def bootstrap_of(broker_url: str) -> str:
    """``kafka://h1:9092;kafka://h2:9092`` -> ``h1:9092,h2:9092`` (aiokafka's form)."""
    hosts = [
        part.strip().removeprefix("kafka://") for part in broker_url.replace(";", ",").split(",")
    ]
    return ",".join(h for h in hosts if h)


#: How long :func:`check_connection` gives each bootstrap server to connect, handshake and
#: answer (aiokafka's own request timeout is 40 s).
CHECK_TIMEOUT_S: Final = 20.0


class BrokerConnectionError(ConnectionError):
    """No bootstrap server accepted a connection; the message says why, never a secret."""


async def check_connection(settings: BrokerSettings, *, timeout_s: float = CHECK_TIMEOUT_S) -> None:
    """Connect to a bootstrap server as the clients will (TLS, SASL) and ask for metadata.

    Returns at the first server that answers; raises :class:`BrokerConnectionError` naming
    each server's problem when none does. Every attempt is bounded by ``timeout_s``.
    """
    from aiokafka.conn import collect_hosts, create_conn
    from aiokafka.protocol.metadata import MetadataRequest

    options = settings.aiokafka_options()
    del options["bootstrap_servers"]
    problems: list[tuple[str, str, str]] = []
    for host, port, _family in collect_hosts(settings.bootstrap_servers, randomize=False):
        address = f"{host}:{port}"
        try:
            async with asyncio.timeout(timeout_s):
                conn = await create_conn(
                    host, port, request_timeout_ms=int(timeout_s * 1000), **options
                )
                try:
                    await conn.send(MetadataRequest([]))
                finally:
                    await conn.close()  # until the socket is closed (TLS: after close_notify)
        except Exception as exc:  # every failure is described below; none escapes as a trace
            problems.append((address, *_describe(exc, settings, timeout_s)))
        else:
            return
    if not problems:
        raise BrokerConnectionError(f"no bootstrap server in STREAMS_BROKER={settings.broker}")
    headline = problems[0][1]
    details = "; ".join(f"{address}: {detail}" for address, _, detail in problems)
    raise BrokerConnectionError(f"{headline}: {details}")


def _describe(exc: BaseException, settings: BrokerSettings, timeout_s: float) -> tuple[str, str]:
    """(headline, detail) of a failed connection, in the settings' terms; never the password."""
    from aiokafka.errors import (
        KafkaConnectionError,
        SaslAuthenticationFailed,
        UnsupportedSaslMechanismError,
    )

    protocol = settings.broker_security_protocol.value
    mechanism = settings.broker_sasl_mechanism
    if isinstance(exc, SaslAuthenticationFailed):
        return (
            "the broker rejected the SASL credentials",
            f"{mechanism} authentication failed for user {settings.broker_sasl_username!r} "
            "(check STREAMS_BROKER_SASL_USERNAME and STREAMS_BROKER_SASL_PASSWORD)",
        )
    if isinstance(exc, UnsupportedSaslMechanismError):
        return (
            "the broker refused the SASL mechanism",
            f"{mechanism} is not enabled on this listener (STREAMS_BROKER_SASL_MECHANISM)",
        )
    if isinstance(exc, ssl.SSLCertVerificationError):
        reason = exc.verify_message or exc.reason or str(exc)
        if exc.verify_code in _NAME_MISMATCH:
            return (
                "the broker's TLS certificate is for another name",
                f"{reason} (connect by a name or address the certificate lists)",
            )
        trusted = (
            f"STREAMS_BROKER_CA_FILE={settings.broker_ca_file}"
            if settings.broker_ca_file
            else "the system CAs (STREAMS_BROKER_CA_FILE is unset)"
        )
        return (
            "the broker's TLS certificate is not trusted",
            f"{reason}; trusted: {trusted}, which must hold the CA that signed it",
        )
    if isinstance(exc, ssl.SSLError):
        return (
            "cannot reach the broker",
            f"TLS handshake failed ({exc.reason or exc}): is it a TLS listener? "
            f"(STREAMS_BROKER_SECURITY_PROTOCOL={protocol})",
        )
    if isinstance(exc, TimeoutError):
        return "cannot reach the broker", f"no answer within {timeout_s:g} s"
    if isinstance(exc, KafkaConnectionError | ConnectionResetError | EOFError):
        return (
            "cannot reach the broker",
            "it closed the connection while connecting: does "
            f"STREAMS_BROKER_SECURITY_PROTOCOL={protocol} match the listener?",
        )
    if isinstance(exc, OSError):
        return "cannot reach the broker", str(exc) or type(exc).__name__
    return "cannot reach the broker", f"{type(exc).__name__}: {exc}"


#: OpenSSL's verify codes for a certificate that does not name the host (or IP) connected to.
_NAME_MISMATCH: Final = frozenset({62, 64})

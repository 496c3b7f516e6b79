"""How to reach the Kafka cluster: bootstrap servers, TLS and SASL, shared by worker and client.

The worker's :class:`~streams.settings.Settings` extends :class:`BrokerSettings`, so the
publisher, the outcome reader and the CLI connect exactly as a worker configured by the same
``STREAMS_BROKER*`` variables would.
"""

from __future__ import annotations

import ssl
from enum import StrEnum
from pathlib import Path
from typing import Any

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

    @model_validator(mode="after")
    def _sasl_complete(self) -> BrokerSettings:
        if self.broker_security_protocol in SASL_PROTOCOLS and not (
            self.broker_sasl_mechanism and self.broker_sasl_username and self.broker_sasl_password
        ):
            raise ValueError(
                "SASL needs STREAMS_BROKER_SASL_MECHANISM, STREAMS_BROKER_SASL_USERNAME and "
                "STREAMS_BROKER_SASL_PASSWORD"
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

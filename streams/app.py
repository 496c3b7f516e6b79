"""The Faust app: settings, topics, the conversation table, and the window pipeline wiring.

A thin shell: Faust provides consumption, acks, commits, rebalancing and the changelog-backed
table; :mod:`streams.pipeline` does the window's work through :mod:`streams.core` and the SDK.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Any, cast

import faust
import orjson
from faust.serializers import codecs
from mode.supervisors import CrashingSupervisor

import streams.tansu  # noqa: F401 - registers the tansu:// transport
from streams import transport
from streams.settings import SecurityProtocol, Settings


class OrjsonCodec(codecs.Codec):
    """JSON via orjson for output topics (outcomes); input is read as raw bytes instead."""

    def _dumps(self, obj: Any) -> bytes:
        return orjson.dumps(obj)

    def _loads(self, s: bytes) -> Any:
        return orjson.loads(s)


codecs.register("orjson", OrjsonCodec())


class TrackedTable(faust.Table[str, list[Any]]):
    """A Table that keeps the delivery futures of its changelog records.

    Faust sends changelog records with ``send_soon`` and drops the future; the window awaits
    them before acking its input, so an offset is never committed ahead of the table state it
    produced.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pending: list[Any] = []

    def send_changelog(self, *args: Any, **kwargs: Any) -> Any:
        fut = super().send_changelog(*args, **kwargs)
        self.pending.append(fut)
        return fut

    def take_pending(self) -> list[Any]:
        """The futures of changelog records sent since the last call."""
        pending, self.pending = self.pending, []
        return pending


def _broker_credentials(settings: Settings) -> Any:
    protocol = settings.broker_security_protocol
    if protocol is SecurityProtocol.PLAINTEXT:
        return None
    context = None
    if protocol in (SecurityProtocol.SSL, SecurityProtocol.SASL_SSL):
        cafile = str(settings.broker_ca_file) if settings.broker_ca_file else None
        context = ssl.create_default_context(cafile=cafile)
    if protocol is SecurityProtocol.SSL:
        return faust.SSLCredentials(context)
    assert settings.broker_sasl_password is not None  # checked by Settings
    return faust.SASLCredentials(
        username=settings.broker_sasl_username,
        password=settings.broker_sasl_password.get_secret_value(),
        mechanism=settings.broker_sasl_mechanism,
        ssl_context=context,
    )


#: Room for any input message the broker accepted, plus dead-letter headers.
MAX_PRODUCE_REQUEST_BYTES = 4 * 1024 * 1024


def faust_settings(settings: Settings) -> dict[str, Any]:
    """Faust configuration: production defaults plus the embedded-broker overrides."""
    conf: dict[str, Any] = {
        "broker": settings.broker,
        "broker_credentials": _broker_credentials(settings),
        "store": settings.table_store,
        "datadir": str(settings.data_dir),
        "topic_partitions": settings.topic_partitions,
        "topic_allow_declare": settings.topic_allow_declare,
        "web_enabled": settings.web_port != 0,
        "web_port": settings.web_port or 6066,
        "web_bind": settings.web_host,
        # An exception escaping the agent must stop the worker: the default supervisor would
        # restart the agent and leave a gap of unacked offsets that blocks commits silently.
        "agent_supervisor": CrashingSupervisor,
        "Table": TrackedTable,
        "consumer_auto_offset_reset": "earliest",
        "producer_acks": -1,
        # Dead letters carry the input bytes as received plus headers; Faust's default limit
        # (1,000,000 bytes) is below Kafka's default message size (1,048,588), so one big input
        # made its dead letter unproducible and stopped the worker on every restart.
        "producer_max_request_size": MAX_PRODUCE_REQUEST_BYTES,
        "broker_session_timeout": settings.broker_session_timeout_s,
        "broker_heartbeat_interval": settings.broker_heartbeat_interval_s,
        "broker_rebalance_timeout": settings.broker_rebalance_timeout_s,
    }
    if settings.group_instance_id:
        conf["consumer_group_instance_id"] = settings.group_instance_id
    # Our transports (registered by importing streams.tansu / streams.transport) never count
    # skipped offsets as acked; the Tansu one also fixes fetch waits and end offsets.
    scheme = "tansu://" if settings.embedded_broker else f"{transport.SCHEME}://"
    conf["broker"] = settings.broker.replace("kafka://", scheme)
    if settings.embedded_broker:
        conf.update(EMBEDDED_OVERRIDES)
    return conf


#: Measured on Tansu 0.6 (see README "Embedded broker"): it holds JoinGroup for about half the
#: session timeout, so short timeouts make the first event arrive in ~3 s instead of ~32 s; a
#: short commit interval cuts redeliveries after a crash.
EMBEDDED_OVERRIDES: dict[str, Any] = {
    "broker_session_timeout": 2.0,
    "broker_heartbeat_interval": 0.5,
    "broker_rebalance_timeout": 30.0,
    "broker_commit_interval": 0.5,
}


@dataclass(frozen=True, slots=True)
class Topics:
    """The app's topics (names from settings)."""

    changes: Any
    outcomes: Any
    dead_letters: Any


def create_app(settings: Settings) -> tuple[faust.App, Topics, TrackedTable]:
    """Build the Faust app, its topics and the last-applied table (no agent yet)."""
    app = faust.App(settings.app_id, **faust_settings(settings))
    raw: dict[str, Any] = {"key_type": bytes, "value_type": bytes, "key_serializer": "raw"}
    topics = Topics(
        changes=app.topic(settings.changes_topic, value_serializer="raw", **raw),
        outcomes=app.topic(settings.outcomes_topic, value_serializer="orjson", **raw),
        dead_letters=app.topic(settings.dead_letter_topic, value_serializer="raw", **raw),
    )
    table = app.Table(
        "last-applied",
        # Values are plain JSON lists (streams.core.records.LastApplied.to_json).
        schema=faust.Schema(key_type=str, key_serializer="orjson", value_serializer="orjson"),
        partitions=settings.topic_partitions,
    )
    return app, topics, cast(TrackedTable, table)

"""Worker settings from ``STREAMS_*`` environment variables (pydantic-settings, frozen).

Defaults suit Apache Kafka in production; ``STREAMS_EMBEDDED_BROKER=true`` (set by ``streams
demo`` and the tests) switches on the overrides measured for the embedded Tansu broker.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from streams.client.connection import BrokerSettings, SecurityProtocol
from streams.core.fitting import MIN_MAX_BYTES as MIN_DEAD_LETTER_BYTES
from streams.core.rate_control import RateControl
from streams.window.config import OnRetryExhausted

__all__ = [
    "EventLoop",
    "OnRetryExhausted",
    "RateControl",
    "SdkBackend",
    "SecurityProtocol",
    "Settings",
]


class SdkBackend(StrEnum):
    """Which IM backend the worker applies changes through."""

    TENCENT = "tencent"


class EventLoop(StrEnum):
    """The asyncio event loop a worker runs on."""

    UVLOOP = "uvloop"
    ASYNCIO = "asyncio"


#: Producing a window's records and acking takes a few seconds at most; keep this much of the
#: rebalance timeout free after the window's last IM answer.
PRODUCE_BUDGET_S = 5.0


class Settings(BrokerSettings):
    """Everything a worker needs besides the IM credentials (``STREAMS_IM_*``); the broker and
    its TLS/SASL settings come from :class:`~streams.client.connection.BrokerSettings`."""

    model_config = SettingsConfigDict(env_prefix="STREAMS_", frozen=True, extra="ignore")

    app_id: str = Field(
        default="conversation-custom-data",
        min_length=1,
        max_length=200,
        description="Consumer group and prefix of the internal topics (table changelogs).",
    )
    group_instance_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=249,
        description=(
            "Static group membership (e.g. the pod name): a restarted pod rejoins without a "
            "rebalance."
        ),
    )
    embedded_broker: bool = Field(
        default=False,
        description=(
            "Use the overrides measured for the embedded Tansu broker (set by `streams demo` "
            "and the tests; never in production)."
        ),
    )
    broker_session_timeout_s: float = Field(
        default=30.0, gt=0, description="Consumer group session timeout."
    )
    broker_rebalance_timeout_s: float = Field(
        default=60.0,
        gt=0,
        description=(
            "Rebalance timeout; must exceed STREAMS_WINDOW_BOUND_S + the IM client timeout + 5 s."
        ),
    )
    broker_heartbeat_interval_s: float = Field(
        default=3.0, gt=0, description="Consumer group heartbeat interval."
    )

    changes_topic: str = Field(
        default="conversation-custom-data-changes", description="Input topic (key: user id)."
    )
    outcomes_topic: str = Field(
        default="conversation-custom-data-outcomes", description="One outcome per input event."
    )
    dead_letter_topic: str = Field(
        default="conversation-custom-data-dead-letters",
        description="Unparseable, oversized and quarantined input, with source headers.",
    )
    topic_partitions: int = Field(
        default=8,
        ge=1,
        le=10_000,
        description=(
            "Partitions of topics the worker creates; the changes topic's count is fixed for "
            "the life of the table."
        ),
    )
    topic_allow_declare: bool = Field(
        default=True,
        description=(
            "False where topics are managed outside the app (Strimzi `KafkaTopic`): the worker "
            "then never tries to create them."
        ),
    )

    window_ms: int = Field(
        default=250,
        ge=1,
        le=60_000,
        description="A window is processed this long after its first event arrived.",
    )
    max_batch: int = Field(
        default=10_000,
        ge=1,
        le=100_000,
        description=(
            "A window is processed at once when one partition's events in it reach this many "
            "(windows are per partition), or when it holds 40,000 events in all (or this many, "
            "if more)."
        ),
    )
    max_message_bytes: int = Field(
        default=64 * 1024,
        ge=1024,
        # The producer's 4 MiB request limit less room for a key and headers: a misrouted
        # change is forwarded whole, and one too large to produce would fail on every restart.
        le=4 * 1024 * 1024 - 8 * 1024,
        description="Larger input is rejected `too_large` before it is parsed.",
    )
    max_clock_skew_s: float = Field(
        default=300.0,
        ge=0,
        # A producer clock 7 days off is a bug, not skew, and the bound keeps `now + skew`
        # inside datetime's range (year 9999, about 2.5e11 s after 1970: a skew of 3e11 s
        # would make every decode overflow).
        le=7 * 24 * 3600,
        description="An `occurred_at` further in the future is rejected `clock_skew`.",
    )
    state_retention_s: float = Field(
        default=30 * 24 * 3600,
        ge=0,
        description=(
            "How long a conversation's last write is remembered after its `occurred_at` "
            "(default 30 days; 0 keeps it for ever). Older table entries are deleted from the "
            "table and its changelog, and a change older than this comes out `stale` / "
            "`beyond_retention`. Keep it above the changes topic's retention plus the longest "
            "lag you accept, so no event still in the topic is refused."
        ),
    )
    dead_letter_max_bytes: int = Field(
        default=1_000_000,
        ge=MIN_DEAD_LETTER_BYTES,
        le=4_000_000,
        description=(
            "Largest dead letter produced; a bigger input is cut to a prefix with headers giving "
            "its original size and SHA-256. The default fits Kafka's default 1 MiB "
            "message.max.bytes; at most the producer's 4 MiB request limit."
        ),
    )
    max_inflated_batch_bytes: int = Field(
        default=32 * 1024 * 1024,
        ge=1024 * 1024,
        le=1024 * 1024 * 1024,
        description=(
            "Largest a fetched compressed batch may inflate to. A batch that would inflate "
            "further (a decompression bomb) is never inflated whole: each of its records comes "
            "out `rejected` / `unparseable` and dead-lettered by position. Legitimate batches of "
            "changes inflate about 5-10 times their compressed size. Reading a batch at the "
            "bound takes about 1.5 times it in memory (measured: a 900 MB gzip bomb took 43 MiB "
            "with the 32 MiB default, and 1.7 GiB without a bound)."
        ),
    )
    quarantine_after_crashes: int = Field(
        default=3,
        ge=1,
        le=100,
        description=(
            "Crashes of the worker on the same input offsets after which the next start "
            "processes them one record at a time and quarantines the record that fails."
        ),
    )
    origin_signing_key: SecretStr | None = Field(
        default=None,
        description=(
            "Key the workers sign forwarded records' origin headers with; by default derived "
            "from STREAMS_IM_SECRET_KEY, which every worker already has."
        ),
    )

    sdk: SdkBackend | None = Field(
        default=None,
        description=(
            "Required: `tencent` (Tencent Cloud Chat or a separately started emulator at "
            "STREAMS_IM_ENDPOINT). The worker never falls back to an emulator on its own."
        ),
    )
    rate_limit: float = Field(
        default=200.0,
        gt=0,
        le=100_000,
        description=(
            "The app-wide IM request budget per second (the quota paid for): no worker ever "
            "sends faster, and with `fixed` rate control each sends at most its partition share."
        ),
    )
    rate_control: RateControl = Field(
        default=RateControl.ADAPTIVE,
        description=(
            "`adaptive`: each worker starts at its partition share of STREAMS_RATE_LIMIT and "
            "adapts (AIMD): frequency-limit answers (60007 and kin) cut its rate, at most once "
            "a second; while its requests wait for the limiter it grows, up to the whole "
            "budget, so a hot worker uses what idle ones leave and a budget above the real "
            "quota converges to it. `fixed`: the partition share, paused 1 s and halved after a "
            "frequency limit (a baseline to compare `adaptive` with)."
        ),
    )
    sdk_concurrency: int = Field(
        default=32, ge=1, le=256, description="IM requests in flight per worker."
    )
    sdk_retry_deadline_s: float = Field(
        default=20.0,
        gt=0,
        description=(
            "Retryable IM errors are retried for this long, counted from each request's first "
            "send; time spent waiting for a rate-limit slot does not count."
        ),
    )
    window_bound_s: float = Field(
        default=30.0,
        gt=0,
        description=(
            "No IM request of a window (first send or retry) starts later than this after the "
            "window's first could; what it has not sent by then is the next window's. Keeps a "
            "window, its last answer and its producing inside the rebalance timeout, and must "
            "exceed STREAMS_SDK_RETRY_DEADLINE_S."
        ),
    )
    sdk_retry_base_s: float = Field(
        default=0.1, gt=0, description="First backoff (exponential, full jitter)."
    )
    sdk_retry_cap_s: float = Field(default=5.0, gt=0, description="Longest backoff.")
    on_retry_exhausted: OnRetryExhausted = Field(
        default=OnRetryExhausted.FAIL,
        description=(
            "`fail`: emit `failed` / `retries_exhausted` and go on; `stop`: exit non-zero, "
            "nothing acked."
        ),
    )

    web_port: int = Field(
        default=6066,
        ge=0,
        le=65_535,
        description="Port of /metrics, /startupz, /healthz and /readyz; 0 turns them off.",
    )
    liveness_stall_s: float = Field(
        default=120.0,
        gt=0,
        description=(
            "/healthz answers 503 (and Kubernetes restarts the pod) when, after start-up and "
            "outside a table recovery, the agent had events waiting and completed no window "
            "and no IM request for this long, while the producer held no record the brokers "
            "had not acknowledged (a broker outage is waited out). Must exceed the longest "
            "legitimate window, STREAMS_SDK_RETRY_DEADLINE_S + 5 s of producing."
        ),
    )
    web_host: str = Field(
        default="127.0.0.1", description="Address the web port binds (0.0.0.0 in a pod)."
    )
    data_dir: Path = Field(default=Path("data"), description="Table state (RocksDB).")
    table_store: str = Field(
        default="rocksdb://",
        pattern=r"^(rocksdb|memory)://$",
        description="`rocksdb://` (production) or `memory://` (rebuilt from the changelog).",
    )
    # RocksDB opens one database per table partition the worker holds (its own and standbys'),
    # each with its own write buffers and block cache: the defaults keep 12 partitions inside
    # the StatefulSet's 1 GiB limit (docs/PERFORMANCE.md, "RocksDB"; tests/engine).
    rocksdb_write_buffer_mb: int = Field(
        default=4,
        ge=1,
        le=512,
        description=(
            "RocksDB memtable size in MiB, per table partition (two per partition: one filling, "
            "one flushing). Faust's default, 64 MiB x 3 per partition, is 2.3 GiB at 12 "
            "partitions; the table's writes are small (about 100 bytes per conversation)."
        ),
    )
    rocksdb_block_cache_mb: int = Field(
        default=16,
        ge=1,
        le=8192,
        description=(
            "RocksDB block cache in MiB, per table partition (a cache per partition, not shared). "
            "Faust's default, 2 GiB per partition, exceeds any pod's memory limit. A window reads "
            "each of its conversations once; reads the cache misses come from the page cache."
        ),
    )
    rocksdb_max_open_files: int = Field(
        default=256,
        ge=16,
        le=1_000_000,
        description=(
            "Open SST files per table partition (each keeps its index and filter in memory, "
            "outside the block cache). Faust's default is 90 % of the process's file limit per "
            "partition, so 12 partitions could ask for 10x the descriptors the process has."
        ),
    )
    table_standby_replicas: int = Field(
        default=0,
        ge=0,
        le=3,
        description=(
            "Standby copies of each table partition kept by other workers. 0: a worker's own "
            "volume keeps its partitions across restarts, and a partition that moves to another "
            "worker is recovered from the compacted changelog (docs/PERFORMANCE.md, RocksDB); "
            "each standby doubles the RocksDB memory and changelog reading of every worker."
        ),
    )
    log_level: str = Field(
        default="INFO", pattern=r"^(DEBUG|INFO|WARNING|ERROR)$", description="Log level."
    )
    log_format: str = Field(
        default="text", pattern=r"^(text|json)$", description="`text` or `json` lines."
    )
    event_loop: EventLoop = Field(
        default=EventLoop.UVLOOP,
        description=(
            "`uvloop` (~10 % less CPU per event, bench/PROFILE.md) or `asyncio`, the way back "
            "should a uvloop release misbehave."
        ),
    )

    @model_validator(mode="after")
    def _window_fits_rebalance(self) -> Settings:
        # The IM client's timeout lives in IMSettings: the worker checks the whole sum
        # (streams.worker.check_window_bound); this is the part these settings decide alone.
        if self.sdk_retry_deadline_s >= self.window_bound_s:
            raise ValueError(
                "STREAMS_SDK_RETRY_DEADLINE_S must stay below STREAMS_WINDOW_BOUND_S (and so "
                "below STREAMS_BROKER_REBALANCE_TIMEOUT_S): a request sent when its window "
                "starts must be able to use its whole retry deadline, or a change cut short by "
                "the bound would be carried from window to window"
            )
        if self.window_bound_s + PRODUCE_BUDGET_S >= self.broker_rebalance_timeout_s:
            raise ValueError(
                f"STREAMS_WINDOW_BOUND_S + {PRODUCE_BUDGET_S:g} s must stay below "
                "STREAMS_BROKER_REBALANCE_TIMEOUT_S, so a window finishes before its partitions "
                "move to another worker"
            )
        return self

    @model_validator(mode="after")
    def _stall_exceeds_window(self) -> Settings:
        if self.liveness_stall_s <= self.sdk_retry_deadline_s + PRODUCE_BUDGET_S:
            raise ValueError(
                f"STREAMS_LIVENESS_STALL_S must exceed STREAMS_SDK_RETRY_DEADLINE_S + "
                f"{PRODUCE_BUDGET_S:g} s, the longest a window may take, or a slow window "
                "restarts the pod"
            )
        return self

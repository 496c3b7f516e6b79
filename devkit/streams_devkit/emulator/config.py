"""Configuration of the IM REST emulator: credentials, listen address, database and fault knobs.

The knobs exist so tests and demos can make the emulator misbehave on purpose (slow answers,
retryable and permanent failures, frequency limits, broken HTTP). They are parsed by one function
per knob whatever their source -- environment strings, CLI values or the JSON of
``POST /debug/knobs`` -- so the three entry points cannot drift apart.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from streams.contract.limits import REQUESTS_PER_SECOND

#: Prefix of the environment variables that set knobs, e.g. ``STREAMS_EMULATOR_FAIL_RATE``.
KNOB_ENV_PREFIX: Final = "STREAMS_EMULATOR_"
SDKAPPID_ENV: Final = "STREAMS_IM_SDKAPPID"
ADMIN_ENV: Final = "STREAMS_IM_ADMIN"
SECRET_KEY_ENV: Final = "STREAMS_IM_SECRET_KEY"  # noqa: S105 - a variable name, not a secret

DEFAULT_HOST: Final = "127.0.0.1"
DEFAULT_PORT: Final = 8090
DEFAULT_DB: Final = Path("emulator.sqlite3")

_TRUE: Final = frozenset({"1", "true", "yes", "on"})
_FALSE: Final = frozenset({"0", "false", "no", "off", ""})


def _as_float(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"expected a number, got {value!r}")
    return float(value)


def _as_int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"expected an integer, got {value!r}")
    return int(value)


def _as_optional_int(value: object) -> int | None:
    return None if value is None or value == "" else _as_int(value)


def _as_bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError(f"expected a boolean, got {value!r}")


def _as_id_set(value: object) -> frozenset[str]:
    """Accept ``"a,b"`` (env, CLI) or ``["a", "b"]`` (JSON)."""
    parts: list[object]
    if isinstance(value, str):
        parts = list(value.split(","))
    elif isinstance(value, list | tuple | frozenset | set):
        parts = list(value)
    else:
        raise ValueError(f"expected a comma-separated string or a list, got {value!r}")
    ids = [part.strip() for part in parts if isinstance(part, str)]
    if len(ids) != len(parts):
        raise ValueError("conversation ids must be strings")
    return frozenset(conversation_id for conversation_id in ids if conversation_id)


@dataclass(frozen=True, slots=True)
class Knobs:
    """Injected misbehaviour; every default means "behave like a healthy server" -- the real
    service's frequency limit included (``rate_limit``)."""

    #: Milliseconds slept after processing, before answering each REST request.
    latency_ms: float = 0.0
    #: Probability that a REST request is answered 70169 (retryable) without being applied.
    fail_rate: float = 0.0
    #: Probability that a single MarkItem is answered 50004 (retryable) without being applied.
    item_fail_rate: float = 0.0
    #: Seed of the generator behind the two rates, for repeatable failure patterns.
    seed: int | None = None
    #: REST requests allowed per 1-second bucket before 60007: the service's app-wide 200/s by
    #: default, as a deployment meets it; 0 turns the limit off (benchmarks of the worker alone).
    rate_limit: int = REQUESTS_PER_SECOND
    #: Conversation ids (``c2c_X`` / ``group_G``) whose items always fail with 51007.
    fail_conversations: frozenset[str] = frozenset()
    #: Non-zero (400-599): answer every REST call with this HTTP status and a plain-text body.
    http_status: int = 0
    #: Answer every REST call 200 with a body lacking the documented fields.
    malformed: bool = False
    #: Answer every REST call 200 (``application/json``) with a truncated body that is not JSON.
    non_json: bool = False

    def __post_init__(self) -> None:
        """Reject values that would make the emulator's behaviour meaningless."""
        if self.latency_ms < 0:
            raise ValueError("latency_ms must be >= 0")
        for name in ("fail_rate", "item_fail_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be within [0, 1]")
        if self.rate_limit < 0:
            raise ValueError("rate_limit must be >= 0 (0 = off)")
        if self.http_status != 0 and not 400 <= self.http_status <= 599:
            raise ValueError("http_status must be 0 (off) or an HTTP error status (400-599)")

    def updated(self, changes: Mapping[str, object]) -> Knobs:
        """Return a copy with ``changes`` (raw strings or JSON values) parsed and applied."""
        unknown = sorted(set(changes) - set(_PARSERS))
        if unknown:
            raise ValueError(f"unknown knob(s): {', '.join(unknown)}")
        parsed: dict[str, Any] = {name: _PARSERS[name](value) for name, value in changes.items()}
        return dataclasses.replace(self, **parsed)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Knobs:
        """Read ``STREAMS_EMULATOR_<KNOB>`` variables; absent ones keep their default."""
        names = (f.name for f in dataclasses.fields(cls))
        found = {name: env[key] for name in names if (key := knob_env_var(name)) in env}
        return cls().updated(found)

    def as_json(self) -> dict[str, object]:
        """The knobs as a JSON-serialisable object (ids sorted for stable output)."""
        data = dataclasses.asdict(self)
        data["fail_conversations"] = sorted(self.fail_conversations)
        return data


_PARSERS: Final[dict[str, Callable[[object], object]]] = {
    "latency_ms": _as_float,
    "fail_rate": _as_float,
    "item_fail_rate": _as_float,
    "seed": _as_optional_int,
    "rate_limit": _as_int,
    "fail_conversations": _as_id_set,
    "http_status": _as_int,
    "malformed": _as_bool,
    "non_json": _as_bool,
}


def knob_env_var(name: str) -> str:
    """The environment variable that sets knob ``name``."""
    return f"{KNOB_ENV_PREFIX}{name.upper()}"


def check_host(host: str, *, allow_remote: bool) -> None:
    """Refuse to bind ``host`` unless it is loopback or ``allow_remote`` says so.

    ``/debug/*`` reads every user's data and rewrites the knobs without authentication, so on
    any other interface (``0.0.0.0`` included) anyone who can reach the port controls the
    emulator. Host names other than ``localhost`` are refused too: what they resolve to is
    not known here.
    """
    if allow_remote or host == "localhost":
        return
    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        pass  # a host name: refused below
    raise ValueError(
        f"--host {host!r} is not a loopback address, and the emulator's /debug endpoints are "
        "unauthenticated (they read every user's data and rewrite the knobs): bind 127.0.0.1, "
        "::1 or localhost, or pass --allow-remote to expose them anyway"
    )


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "")
    if not value:
        raise ValueError(f"environment variable {name} is required")
    return value


@dataclass(frozen=True, slots=True)
class EmulatorConfig:
    """Everything the emulator needs; the secret key is kept out of ``repr`` so it never logs."""

    sdkappid: int
    admin: str
    secret_key: str = field(repr=False)
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    db_path: Path = DEFAULT_DB
    knobs: Knobs = field(default_factory=Knobs)
    #: Bind ``host`` even though it is not loopback (:func:`check_host`).
    allow_remote: bool = False

    def __post_init__(self) -> None:
        check_host(self.host, allow_remote=self.allow_remote)

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str] | None = None,
        *,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        db_path: Path = DEFAULT_DB,
        allow_remote: bool = False,
    ) -> EmulatorConfig:
        """Read credentials (``STREAMS_IM_*``) and knobs (``STREAMS_EMULATOR_*``) from ``env``.

        Raises ``ValueError`` naming a missing or malformed variable, never echoing its value.
        """
        env = os.environ if env is None else env
        raw_sdkappid = _required(env, SDKAPPID_ENV)
        if not raw_sdkappid.isdigit():
            raise ValueError(f"environment variable {SDKAPPID_ENV} must be an integer")
        return cls(
            sdkappid=int(raw_sdkappid),
            admin=_required(env, ADMIN_ENV),
            secret_key=_required(env, SECRET_KEY_ENV),
            host=host,
            port=port,
            db_path=db_path,
            knobs=Knobs.from_env(env),
            allow_remote=allow_remote,
        )

"""The contract with faust-streaming, mode and aiokafka internals, checked against the installed.

Every private member the engine relies on (``streams.engine.internals``) must exist with the
shape the code uses; an upgrade that renames or reshapes one fails here, in one readable test,
instead of as a hang in a worker. A second check keeps the boundary: only ``streams.engine``
imports faust or mode, and the engine uses no private name that is not listed.
"""

from __future__ import annotations

import ast
import asyncio
import contextvars
import importlib
import inspect
import re
from pathlib import Path
from typing import Any

import aiokafka
import faust
import pytest
from aiokafka.producer.message_accumulator import MessageAccumulator
from faust.sensors.prometheus import PrometheusMonitor
from faust.tables.base import Collection
from faust.tables.recovery import Recovery
from faust.transport.drivers import aiokafka as faust_aiokafka
from mode import Service

from streams.engine import internals

ROOT = Path(__file__).resolve().parents[2]
ENGINE = ROOT / "streams" / "engine"


def params(function: Any) -> list[str]:
    return list(inspect.signature(function).parameters)


def assigned_in(cls: type, name: str) -> bool:
    """Whether ``self.<name> = ...`` appears in ``cls`` or a library base class's source."""
    pattern = re.compile(rf"self\.{re.escape(name)}\b\s*(:[^=\n]*)?=[^=]")
    for klass in cls.__mro__:
        if klass.__module__.split(".")[0] not in ("faust", "mode", "aiokafka"):
            continue
        try:
            source = inspect.getsource(klass)
        except (OSError, TypeError):
            continue
        if pattern.search(source):
            return True
    return False


@pytest.fixture
def app() -> faust.App:
    return faust.App("internals-contract", broker="kafka://127.0.0.1:1", web_enabled=True)


def test_functions_reach_members_that_exist(app: faust.App) -> None:
    from faust import streams as faust_streams

    assert isinstance(faust_streams._current_event, contextvars.ContextVar)
    assert hasattr(app, "_crash_reason") and internals.crash_reason(app) is None
    assert params(faust_aiokafka.Producer._ensure_producer) == ["self"]
    assert params(faust_aiokafka.AIOKafkaConsumerThread._ensure_consumer) == ["self"]
    assert params(aiokafka.AIOKafkaConsumer.position) == ["self", "partition"]
    assert params(faust.Stream._enable_passive)[:2] == ["self", "channel"]
    assert callable(internals.streams_of_partition(app))
    assert assigned_in(Collection, "_sensor_on_set")
    assert assigned_in(PrometheusMonitor, "_metrics")
    enabled = app.web.blueprints._enabled
    assert enabled and all(isinstance(prefix, str) for prefix, _ in enabled)
    internals.drop_blueprints(app, "faust.web.apps.")
    assert not app.web.blueprints._enabled, "every Faust view matched the prefix"
    assert assigned_in(aiokafka.AIOKafkaConsumer, "_fetch_max_wait_ms")
    assert assigned_in(Service, "_stopped")
    assert assigned_in(faust_aiokafka.Producer, "_producer")
    assert assigned_in(aiokafka.AIOKafkaProducer, "_message_accumulator")
    assert assigned_in(MessageAccumulator, "_batches")
    assert assigned_in(MessageAccumulator, "_pending_batches")
    assert internals.producer_backlog(app) == 0, "no producer before the app starts"


async def test_stream_processors_and_current_event(app: faust.App) -> None:
    topic = app.topic("contract")
    stream = app.stream(topic)

    def processor(value: Any) -> Any:
        return value

    stream.add_processor(processor)
    assert processor in stream._processors
    internals.remove_processor(stream, processor)
    assert processor not in stream._processors
    event = object.__new__(faust.Event)
    internals.set_current_event(event)
    assert faust.current_event() is event
    await asyncio.sleep(0)


@pytest.mark.parametrize(
    ("cls", "name"),
    [(cls, name) for cls, names in internals.SUBCLASSED.items() for name in names],
)
def test_subclassed_private_members_exist(cls: str, name: str) -> None:
    module, _, attr = cls.rpartition(".")
    klass = getattr(importlib.import_module(module), attr)
    why = internals.SUBCLASSED[cls][name]
    if why.startswith(("hook", "method")):
        assert callable(getattr(klass, name, None)), f"{cls}.{name} is gone"
    else:
        assert assigned_in(klass, name), f"{cls} no longer sets self.{name}"


HOOK_PARAMS = {
    "_to_message": ["self", "tp", "record"],
    "_drain_messages": ["self", "fetcher"],
    "_wait_next_records": ["self", "timeout"],
    "_seek": ["self", "partition", "offset"],
    "_new_offset": ["self", "tp"],
    "_new_consumer_thread": ["self"],
    "_is_changelog_tp": ["self", "tp"],
    "_create_worker_consumer": ["self", "transport"],
    "_highwaters": ["self", "partitions"],
    "_settings_extra": ["self"],
    "_on_partitions_revoked": ["self", "revoked"],
    "_build_offsets": ["self", "consumer", "tps", "destination", "title"],
}


@pytest.mark.parametrize("name", sorted(HOOK_PARAMS))
def test_hooks_keep_the_signature_the_overrides_have(name: str) -> None:
    classes = (
        faust_aiokafka.Consumer,
        faust_aiokafka.AIOKafkaConsumerThread,
        faust_aiokafka.Producer,
        faust.App,
        Recovery,
    )
    for klass in classes:
        if hasattr(klass, name):
            assert params(getattr(klass, name)) == HOOK_PARAMS[name]
            return
    pytest.fail(f"no library class defines {name}")


# --- the boundary ---------------------------------------------------------------------------


def imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module.split(".")[0])
    return found


def test_only_the_engine_imports_faust_or_mode() -> None:
    sources = [p for p in (ROOT / "streams").rglob("*.py") if ENGINE not in p.parents]
    offenders = {str(p.relative_to(ROOT)): imports(p) & {"faust", "mode"} for p in sources}
    assert len(sources) > 20
    assert not {p: names for p, names in offenders.items() if names}
    assert {"faust"} <= set().union(*(imports(p) for p in ENGINE.glob("*.py")))


def own_names(tree: ast.AST) -> set[str]:
    """Names the engine defines itself: attributes it assigns, functions and methods it has."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Attribute):
            names.add(node.target.attr)
    return names


def test_the_engine_uses_no_unlisted_private_member() -> None:
    listed = {name for names in internals.SUBCLASSED.values() for name in names}
    trees = {p.name: ast.parse(p.read_text()) for p in ENGINE.glob("*.py")}
    own = set().union(*(own_names(t) for n, t in trees.items() if n != "internals.py"))
    unlisted: dict[str, set[str]] = {}
    for name, tree in trees.items():
        if name == "internals.py":
            continue
        used = {
            node.attr
            for node in ast.walk(tree)
            if isinstance(node, ast.Attribute)
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
        }
        stray = used - own - listed
        if stray:
            unlisted[name] = stray
    assert not unlisted, f"private members used outside streams.engine.internals: {unlisted}"

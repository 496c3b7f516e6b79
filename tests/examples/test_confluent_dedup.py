"""The confluent-kafka example's deduplication, pure (no Kafka): the rule of docs/RELIABILITY.md
that streams.client.OutcomeReader follows, checked against the reader's own Deduplicator.

By ``source``: the first final outcome (``applied``/``failed``) is authoritative, except that a
later ``applied`` overrides a ``failed`` (a ``streams replay`` copy names the original source);
a final outcome after a non-final one corrects it; everything else is dropped. A correction is
printed with ``"corrects": true`` and ``"replaces"``.
"""

from __future__ import annotations

import importlib.util
import io
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from streams.client.reader import Deduplicator as ReaderDeduplicator
from streams.contract import Outcome
from tests.fixtures.client import outcome_dict

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "python" / "confluent_client.py"
STATUSES = ["applied", "failed", "superseded", "stale", "duplicate", "rejected"]
REASONS = {
    "superseded": "superseded",
    "stale": "stale",
    "duplicate": "duplicate",
    "rejected": "schema",
}


def load_example() -> ModuleType:
    """The example as its users run it: a script, not a package of this repository."""
    spec = importlib.util.spec_from_file_location("confluent_client", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


client = load_example()


def outcome(status: str, offset: int = 1, event_id: str = "run-1") -> dict[str, Any]:
    """An outcome record as the worker writes it, decoded."""
    written = outcome_dict(status, offset, event_id=event_id, reason=REASONS.get(status))
    decoded: dict[str, Any] = json.loads(json.dumps(written))
    return decoded


def run(*outcomes: dict[str, Any], prefix: str = "") -> tuple[Any, list[dict[str, Any]]]:
    out = io.StringIO()
    dedup = client.Deduplicator(out, prefix)
    for o in outcomes:
        dedup.offer(json.dumps(o).encode())
    return dedup, [json.loads(line) for line in out.getvalue().splitlines()]


def test_an_applied_replay_corrects_a_failed_outcome() -> None:
    dedup, printed = run(
        outcome("failed"),
        outcome("failed"),  # redelivered: dropped
        outcome("applied"),  # the replayed copy succeeded: corrects the failure
        outcome("failed"),  # after applied: dropped
        outcome("duplicate"),  # after applied: dropped
        outcome("applied"),  # redelivered: dropped
    )
    assert printed == [
        outcome("failed"),
        outcome("applied") | {"corrects": True, "replaces": "failed"},
    ]
    assert dedup.kept == {("changes", 0, 1): "applied"}
    assert (dedup.dropped, dedup.corrected) == (4, 1)
    assert "1 corrected by a later one" in dedup.summary()


def test_a_final_outcome_corrects_a_non_final_one_and_failed_never_overrides_applied() -> None:
    dedup, printed = run(
        outcome("superseded", 1),
        outcome("failed", 1),  # final after non-final: corrects it
        outcome("stale", 1),  # dropped
        outcome("applied", 2),
        outcome("failed", 2),  # dropped: applied stands
        outcome("superseded", 3),
        outcome("stale", 3),  # non-final after non-final: dropped
        outcome("applied", 4, event_id="other-4"),  # another run's: skipped
        prefix="run-",
    )
    assert [(o["status"], o.get("corrects"), o.get("replaces")) for o in printed] == [
        ("superseded", None, None),
        ("failed", True, "superseded"),
        ("applied", None, None),
        ("superseded", None, None),
    ]
    assert (dedup.dropped, dedup.corrected, dedup.skipped) == (3, 1, 1)


@pytest.mark.parametrize("first", STATUSES)
@pytest.mark.parametrize("second", STATUSES)
@pytest.mark.parametrize("third", STATUSES)
def test_agrees_with_the_outcome_reader(first: str, second: str, third: str) -> None:
    """Every sequence of three outcomes for one source: the example prints what the reader
    yields, and marks as corrections what the reader yields with ``corrects``."""
    sequence = [outcome(s) for s in (first, second, third)]
    _, printed = run(*sequence)
    reader = ReaderDeduplicator()
    expected = []
    for o in sequence:
        keep, corrects = reader.admit(Outcome.model_validate(o))
        if keep:
            expected.append((o["status"], corrects))
    assert [(o["status"], o.get("corrects", False)) for o in printed] == expected

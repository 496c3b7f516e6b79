"""The Apache Kafka launcher's pure parts (the launcher itself runs under every broker test)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from streams_devkit import kafka


def test_a_cluster_id_never_starts_with_a_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    """``kafka-storage format --cluster-id -x...`` took the id for an option (1 start in 64)."""
    draws: Iterator[bytes] = iter([b"\xf8" * 16, b"\x00" * 16])
    monkeypatch.setattr(kafka.os, "urandom", lambda _n: next(draws))
    assert kafka._cluster_id() == "AAAAAAAAAAAAAAAAAAAAAA"

"""The benchmark harness still works: a tiny run of each process kind, no timing asserted.

On the session's Apache Kafka (the benchmark's default broker), and the Faust baselines and the
pipeline once more on the embedded Tansu (``--broker tansu``).
"""

from dataclasses import replace
from pathlib import Path

import pytest

from bench.brokers import KAFKA, TANSU, Broker
from bench.harness import Run, lower_bound, measure, worker_env
from bench.run import HALF_RATE, MAIN, Sizes, median_pair, report, scenarios
from streams_devkit.broker import EmbeddedBroker
from streams_devkit.kafka import KAFKA_VERSION, KafkaCluster
from streams_devkit.workload import LoadSpec, load_workload


@pytest.fixture
def kafka(broker: str, kafka_cluster: KafkaCluster) -> Broker:
    """The session's Apache Kafka as the benchmark sees it (its JVM's CPU is measured)."""
    return Broker(KAFKA, broker, kafka_cluster.nodes[0].pid)


def test_workload_is_seeded_and_skewed() -> None:
    spec = LoadSpec(events=2_000, users=50, conversations=500, invalid_share=0.05)
    first, again = list(load_workload(spec)), list(load_workload(spec))
    assert first == again and len(first) == 2_000
    assert sum(1 for key, _ in first if key in (None, b"user-bad")) > 50


def test_lower_bound_counts_users_per_window() -> None:
    docs = [
        {"status": "applied", "processed_at": "t1", "user_id": "u", "conversation_id": f"c{i}"}
        for i in range(150)
    ] + [
        {"status": "failed", "processed_at": "t1", "user_id": "v", "conversation_id": "c"},
        {"status": "superseded", "processed_at": "t1", "user_id": "w", "conversation_id": "c"},
        {"status": "applied", "processed_at": "t2", "user_id": "u", "conversation_id": "c0"},
    ]
    assert lower_bound(docs) == 2 + 1 + 1


def test_workers_run_as_in_production_on_kafka_and_embedded_on_tansu(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STREAMS_EMBEDDED_BROKER", "true")
    on_kafka = worker_env(Broker(KAFKA, "127.0.0.1:1,127.0.0.1:2"), "p-", 4, "http://im")
    assert "STREAMS_EMBEDDED_BROKER" not in on_kafka
    assert on_kafka["STREAMS_BROKER"] == "kafka://127.0.0.1:1;127.0.0.1:2"
    on_tansu = worker_env(Broker(TANSU, "127.0.0.1:3"), "p-", 4, "http://im")
    assert on_tansu["STREAMS_EMBEDDED_BROKER"] == "true"


def test_tiny_runs_of_every_kind(kafka: Broker, tmp_path: Path) -> None:
    """One tiny run per process kind; the report is rendered from them for every scenario."""
    sizes = Sizes(pairs=1, a=300, b_naive=30, c=60, d=300, e=(100, 300))
    by_kind = {}
    for kind, spec in [
        ("ceiling", LoadSpec(events=300, users=20, conversations=100)),
        ("floor", LoadSpec(events=300, users=20, conversations=100)),
        ("floor-tuned", LoadSpec(events=300, users=20, conversations=100)),
        ("naive", LoadSpec(events=30, users=5, conversations=10)),
        ("pipeline", LoadSpec(events=300, users=20, conversations=100)),
    ]:
        result = measure(Run(kind, spec, partitions=2), kafka, tmp_path)
        assert result.events == spec.events and result.cpu_s > 0 and result.peak_rss > 0
        by_kind[kind] = result
    pipeline = by_kind["pipeline"]
    assert pipeline.requests >= pipeline.lower_bound > 0
    assert len(pipeline.latencies_ms) == 300 and by_kind["naive"].requests == 30
    results = {label: by_kind[run.kind] for label, run in scenarios(sizes)}
    results[HALF_RATE] = pipeline
    floor = by_kind["floor"]
    # Three pairs whose pipeline took 4x, 1x and 2x as long: the median pair is the 2x one.
    pairs = [(floor, replace(pipeline, seconds=pipeline.seconds * k)) for k in (4, 1, 2)]
    assert median_pair(pairs) == pairs[2]
    text = report(results, sizes, "quick", pairs, KAFKA, (1.0, 1.0, 1.0))
    assert text.startswith(MAIN[KAFKA].begin) and text.endswith(MAIN[KAFKA].end)
    assert f"## Scenarios (a) to (e) on Apache Kafka {KAFKA_VERSION}" in text
    assert "### Ratios" in text and "(b) pipeline / naive" in text
    assert "the median of 3 interleaved pairs" in text
    assert "floor with the worker's tunings" in text
    assert "`python -m bench.run --quick`" in text


def test_baselines_and_pipeline_on_tansu(tansu_broker: EmbeddedBroker, tmp_path: Path) -> None:
    """``--broker tansu`` still runs: stock Faust on the embedded broker's consumer thread, the
    worker with the embedded broker's overrides."""
    tansu = Broker(TANSU, tansu_broker.bootstrap, tansu_broker.pid)
    for kind in ("floor", "pipeline"):
        spec = LoadSpec(events=200, users=20, conversations=100)
        result = measure(Run(kind, spec, partitions=2), tansu, tmp_path)
        assert result.events == 200 and result.cpu_s > 0

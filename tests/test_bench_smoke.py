"""The benchmark harness still works: a tiny run of each process kind, no timing asserted."""

from dataclasses import replace
from pathlib import Path

from bench.harness import Run, lower_bound, measure
from bench.run import HALF_RATE, Sizes, median_pair, report, scenarios
from streams_devkit.workload import LoadSpec, load_workload


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


def test_tiny_runs_of_every_kind(broker: str, tmp_path: Path) -> None:
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
        result = measure(Run(kind, spec, partitions=2), broker, tmp_path)
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
    text = report(results, sizes, "quick", pairs)
    assert "## Ratios" in text and "(b) pipeline / naive" in text
    assert "the median of 3 interleaved pairs" in text
    assert "floor with the worker's tunings" in text

"""Every scenario, fixed then adaptive: the runs, their plots, the section; a run's raw figures."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from bench.brokers import Broker
from bench.rate.analysis import SKIP_S, end_second, pct, span
from bench.rate.plots import PLOTS, plot, plot_name
from bench.rate.report import section
from bench.rate.runner import run_one
from bench.rate.runs import RunResult
from bench.rate.scenarios import CONTROLS, Sizes, scenarios
from streams.core.rate_control import RateControl


def run_all(
    sizes: Sizes,
    broker: Broker,
    workdir: Path,
    mode: str,
    *,
    only: str = "fgh",
    plots: Path = PLOTS,
    raw: Path | None = None,
    log: Callable[[str], None] = print,
) -> str:
    """Every scenario, fixed then adaptive; the plots written; the section returned."""
    started = datetime.now(UTC)
    results: dict[str, dict[RateControl, RunResult]] = {}
    for scenario in scenarios(sizes):
        if scenario.key not in only:
            continue
        pair: dict[RateControl, RunResult] = {}
        for control in CONTROLS:
            log(f"running ({scenario.key}) {scenario.title}, {control.value}...")
            pair[control] = result = run_one(scenario, control, broker, workdir, log)
            total = span(result, SKIP_S, end_second(result))
            log(f"  {pct(total.used)} of the quota used, {pct(total.rejected_share)} 60007")
            if raw is not None:
                raw.mkdir(parents=True, exist_ok=True)
                (raw / f"{scenario.key}-{control.value}.json").write_bytes(
                    orjson.dumps(dump(result), option=orjson.OPT_NON_STR_KEYS)
                )
        results[scenario.key] = pair
        plot(pair, plots / plot_name(scenario, broker.kind))
    return section(results, mode=mode, started=started, broker=broker.kind)


def dump(result: RunResult) -> dict[str, Any]:
    """A run's raw figures as JSON-ready data (for looking into a run afterwards)."""
    return {
        "scenario": result.scenario.key,
        "control": result.control.value,
        "owned": result.owned,
        "per_second": {str(s): rows for s, rows in sorted(result.per_second.items())},
        "rate_limits": [(round(s.t, 2), s.rate_limits) for s in result.samples],
        "final_metrics": [
            {k: v for k, v in m.items() if k.startswith("streams_")} for m in result.final_metrics
        ],
    }

"""The RESULTS.md section of scenarios (f), (g), (h)."""

from __future__ import annotations

from datetime import datetime

from bench.brokers import KAFKA, broker_name, broker_setup
from bench.harness import command, sections
from bench.rate.analysis import figures
from bench.rate.plots import plot_name
from bench.rate.runs import RunResult
from bench.rate.scenarios import QUOTA
from streams.core.rate_control import RateControl

#: The section's markers per broker; SECTION, BEGIN and END are Apache Kafka's.
SECTIONS = sections("rate")
SECTION = SECTIONS[KAFKA]
BEGIN, END = SECTION.begin, SECTION.end


def section(
    results: dict[str, dict[RateControl, RunResult]],
    *,
    mode: str,
    started: datetime,
    broker: str = KAFKA,
) -> str:
    """The RESULTS.md section of scenarios (f), (g), (h) on ``broker`` (its kind)."""
    loads = [r.load for pair in results.values() for r in pair.values()]
    lines = [
        SECTIONS[broker].begin,
        f"## Rate control under a shared quota (scenarios f, g, h, issue 18) on "
        f"{broker_name(broker)}",
        "",
        f"{command(mode, broker, 'rate')} on {started:%Y-%m-%d %H:%M} UTC, on "
        f"{broker_setup(broker)}; load average (1 min) at the runs' starts "
        + ", ".join(f"{load[0]:.1f}" for load in loads)
        + ". The emulator limits requests like the service (fixed 1-second buckets, 200/s); "
        "each event is its own user, so the demand in requests per second is the publishing "
        "rate. Per second and per worker from the emulator's request log (users mapped to "
        "partitions and to the workers owning them). Fixed and adaptive run back to back.",
        "",
    ]
    for key, pair in results.items():
        sc = next(iter(pair.values())).scenario
        fig = figures(pair)
        lines += [
            f"### ({key}) {sc.title}",
            "",
            f"{sc.workers} workers, {sc.partitions} partitions, STREAMS_RATE_LIMIT="
            f"{sc.budget:g}, emulator limit {QUOTA}/s"
            + (
                "".join(f", {v}/s from {at:g} s" for at, v in sc.quota_steps)
                if sc.quota_steps
                else ""
            )
            + f", demand {sc.demand:g} requests/s for {sc.duration_s:g} s"
            + (
                f" after {sc.prefill_s:g} s of it published at once (a backlog from the start)"
                if sc.prefill_s
                else ""
            )
            + (
                f" ({sc.hot_share:.0%} on worker 0's partitions, the rest spread evenly)"
                if sc.hot_share
                else ", spread evenly over the partitions"
            )
            + ".",
            "",
            "| figure | fixed | adaptive | target |",
            "|---|---|---|---|",
            *(f"| {a} | {b} | {c} | {d} |" for a, b, c, d in fig.rows),
            "",
            *(f"* {note}" for note in fig.notes),
            *([""] if fig.notes else []),
            f"![({key}) fixed and adaptive](plots/{plot_name(sc, broker)})",
            "",
        ]
    lines.append(SECTIONS[broker].end)
    return "\n".join(lines)

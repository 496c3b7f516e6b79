"""The plots of a pair of runs: each worker's requests per second, the accepted total, the quota."""

from __future__ import annotations

from pathlib import Path

from bench.brokers import KAFKA
from bench.rate.analysis import SKIP_S, end_second, pct, span
from bench.rate.runs import RunResult
from bench.rate.scenarios import CONTROLS, QUOTA, Scenario
from streams.core.rate_control import RateControl

PLOTS = Path(__file__).resolve().parents[1] / "plots"


def plot(pair: dict[RateControl, RunResult], path: Path) -> None:
    """Two panels, fixed and adaptive: each worker's requests/s, the accepted total, the quota."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sc = next(iter(pair.values())).scenario
    end = end_second(next(iter(pair.values())))
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.4), sharey=True, layout="constrained")
    top = 0.0
    for ax, control in zip(axes, CONTROLS, strict=True):
        r = pair[control]
        xs = list(range(end))
        for w in range(sc.workers):
            sent = [sum(r.per_second.get(s, [[0, 0]] * (sc.workers + 1))[w]) for s in xs]
            label = f"worker {w} sent" + (" (hot, 70 %)" if w == r.hot_worker else "")
            line = ax.plot(xs, sent, lw=1.2, label=label, drawstyle="steps-post")[0]
            limit = [(s.t, s.rate_limits[w]) for s in r.samples if s.rate_limits[w] is not None]
            ax.plot([t for t, _ in limit], [v for _, v in limit], lw=0.9, ls=":",
                    color=line.get_color())  # fmt: skip
            top = max(top, *sent)
        accepted = [span(r, s, s + 1).accepted for s in xs]
        rejected = [span(r, s, s + 1).rejected for s in xs]
        ax.bar(xs, rejected, width=1.0, align="edge", color="tab:red", alpha=0.35,
               label="answered 60007 (all)")  # fmt: skip
        ax.plot(xs, accepted, color="black", lw=2.2, label="accepted (all)", drawstyle="steps-post")
        quota = [sc.quota(s) for s in [*xs, end]]
        ax.plot([*xs, end], quota, color="tab:red", ls="--", lw=1.5, label="quota",
                drawstyle="steps-post")  # fmt: skip
        top = max(top, *accepted, *rejected, *quota)
        total = span(r, SKIP_S, end)
        ax.set_title(
            f"STREAMS_RATE_CONTROL={control.value}\nfrom {SKIP_S} s: {pct(total.used)} of the "
            f"quota used, {pct(total.rejected_share)} answered 60007",
            fontsize=10,
        )
        ax.set_xlabel("seconds since the demand started (emulator's 1-second buckets)")
        ax.plot([], [], color="grey", ls=":", lw=0.9, label="worker's rate limit (dotted)")
        ax.grid(alpha=0.3)
        ax.set_xlim(0, end)
    axes[0].set_ylabel("requests per second")
    axes[0].set_ylim(0, min(top * 1.08, 3.2 * QUOTA))
    handles, labels = axes[1].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=4, fontsize=9, frameon=False)
    fig.suptitle(
        f"({sc.key}) {sc.title}\n{sc.workers} workers, {sc.partitions} partitions, "
        f"STREAMS_RATE_LIMIT={sc.budget:g}, demand {sc.demand:g} requests/s",
        fontsize=11,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_name(scenario: Scenario, broker: str = KAFKA) -> str:
    """``rate-f.png`` on Apache Kafka, ``rate-f-tansu.png`` on another broker."""
    return f"rate-{scenario.key}.png" if broker == KAFKA else f"rate-{scenario.key}-{broker}.png"

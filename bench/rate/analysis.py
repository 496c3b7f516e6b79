"""The figures of a pair of runs (fixed against adaptive): spans, convergence, settling."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from bench.rate.runs import RunResult
from bench.rate.scenarios import QUOTA
from streams.core.rate_control import RateControl

#: Figures count from this second of the demand on (slow start and the first cuts before).
SKIP_S = 10
#: Converged once no later second had more than this share of the quota answered 60007 (the
#: simulation's definition, tests/core/test_rate_control.py).
CONVERGED_REJECTED = 0.1
#: Settled after a quota rise once the accepted requests of this many seconds average 90 %.
SETTLE_SPAN_S = 5


@dataclass(frozen=True)
class Span:
    """Requests of all workers in whole seconds [start, end) of the demand."""

    accepted: int
    rejected: int
    quota: int

    @property
    def used(self) -> float:
        return self.accepted / self.quota if self.quota else 0.0

    @property
    def rejected_share(self) -> float:
        sent = self.accepted + self.rejected
        return self.rejected / sent if sent else 0.0


def span(result: RunResult, start: int, end: int, worker: int | None = None) -> Span:
    """Totals over [start, end) seconds, of one worker or all (the quota is always the app's)."""
    accepted = rejected = 0
    for second in range(start, end):
        rows = result.per_second.get(second)
        if not rows:
            continue
        for index, (a, r) in enumerate(rows):
            if worker is None or index == worker:
                accepted += a
                rejected += r
    quota = sum(result.scenario.quota(s) for s in range(start, end))
    return Span(accepted, rejected, quota)


def end_second(result: RunResult) -> int:
    """The last whole second of the demand (exclusive)."""
    return int(result.scenario.duration_s)


def converged_at(result: RunResult, start: int = 0, end: int | None = None) -> int | None:
    """Seconds after ``start`` until no later second (before ``end``) had more than 10 % of
    its quota answered 60007; None when the last second still had."""
    end = end_second(result) if end is None else end
    late = [
        s
        for s in range(start, end)
        if span(result, s, s + 1).rejected > CONVERGED_REJECTED * result.scenario.quota(s)
    ]
    if late and late[-1] == end - 1:
        return None
    return (late[-1] + 1 - start) if late else 0


def risen_at(result: RunResult, start: int, end: int) -> int | None:
    """Seconds after ``start`` until SETTLE_SPAN_S seconds in a row averaged >= 90 % of the
    quota accepted; None if never before ``end``."""
    for s in range(start, end - SETTLE_SPAN_S + 1):
        if span(result, s, s + SETTLE_SPAN_S).used >= 0.9:
            return s - start
    return None


def settled_at(result: RunResult, start: int, end: int) -> int | None:
    """Seconds after ``start`` until both: SETTLE_SPAN_S seconds averaged >= 90 % of the quota
    accepted, and no later second had more than 10 % of it answered 60007."""
    risen, converged = risen_at(result, start, end), converged_at(result, start, end)
    return None if risen is None or converged is None else max(risen, converged)


def pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def _secs(x: int | None, limit: float) -> str:
    return f"> {limit:g} s (not settled)" if x is None else f"{x} s"


@dataclass
class Figures:
    """(label, fixed, adaptive, target) rows of one scenario."""

    rows: list[tuple[str, str, str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def figures(pair: dict[RateControl, RunResult]) -> Figures:
    """The scenario's rows, fixed against adaptive."""
    out = Figures()
    any_run = next(iter(pair.values()))
    sc = any_run.scenario
    end = end_second(any_run)

    def row(label: str, fn: Callable[[RunResult], str], target: str = "") -> None:
        out.rows.append(
            (label, fn(pair[RateControl.FIXED]), fn(pair[RateControl.ADAPTIVE]), target)
        )

    if sc.key in ("f", "g"):
        row(
            f"quota used, seconds {SKIP_S}-{end}",
            lambda r: pct(span(r, SKIP_S, end).used),
            ">= 95 %" if sc.key == "f" else ">= 90 %",
        )
        row(
            f"requests answered 60007, seconds {SKIP_S}-{end}",
            lambda r: pct(span(r, SKIP_S, end).rejected_share),
            "<= 1 %" if sc.key == "f" else "<= 2 %",
        )
        row(f"quota used, seconds 0-{end}", lambda r: pct(span(r, 0, end).used))
        row(f"answered 60007, seconds 0-{end}", lambda r: pct(span(r, 0, end).rejected_share))
    if sc.key == "f":
        row(
            f"hot worker's accepted requests/s, seconds {SKIP_S}-{end} (its fixed share "
            f"{QUOTA * 0.98 / sc.workers:.0f}/s, its demand {sc.demand * 0.7:.0f}/s)",
            lambda r: f"{span(r, SKIP_S, end, 0).accepted / (end - SKIP_S):.0f}",
        )
        row(
            f"each cold worker's accepted requests/s (demand {sc.demand * 0.1:.0f}/s each)",
            lambda r: ", ".join(
                f"{span(r, SKIP_S, end, w).accepted / (end - SKIP_S):.0f}"
                for w in range(1, sc.workers)
            ),
        )
    if sc.key == "g":
        row(
            "time to converge (no later second with > 10 % of the quota answered 60007)",
            lambda r: _secs(converged_at(r), end),
            "<= 10 s",
        )
    if sc.key == "h":
        (low_at, _), (high_at, _) = sc.quota_steps
        lo, hi = int(low_at), int(high_at)
        row(f"quota used, seconds {SKIP_S}-{lo} (200/s)", lambda r: pct(span(r, SKIP_S, lo).used))
        row(
            f"answered 60007, seconds {SKIP_S}-{lo}",
            lambda r: pct(span(r, SKIP_S, lo).rejected_share),
        )
        row(
            f"halved at {lo} s: time to settle ({SETTLE_SPAN_S} s averaging >= 90 % of the half "
            "accepted, no later second with > 10 % of it answered 60007)",
            lambda r: _secs(settled_at(r, lo, hi), hi - lo),
            "<= 5 s",
        )
        row(
            f"answered 60007 while halved, seconds {lo}-{hi} (requests)",
            lambda r: f"{pct(span(r, lo, hi).rejected_share)} ({span(r, lo, hi).rejected})",
        )
        row(
            f"quota used while halved, seconds {lo + 5}-{hi}",
            lambda r: pct(span(r, lo + 5, hi).used),
        )
        row(
            f"restored at {hi} s: time to settle (the same, of the whole quota)",
            lambda r: _secs(settled_at(r, hi, end), end - hi),
            "<= 5 s",
        )
        row(
            f"answered 60007 after the restore, seconds {hi}-{end} (requests)",
            lambda r: f"{pct(span(r, hi, end).rejected_share)} ({span(r, hi, end).rejected})",
        )
        row(f"quota used, seconds {hi + 10}-{end}", lambda r: pct(span(r, hi + 10, end).used))

    def paced(r: RunResult) -> str:
        start = SKIP_S if sc.key != "h" else int(sc.quota_steps[-1][0]) + 10
        seconds = end - start
        out = []
        for w in range(sc.workers):
            limits = [x for x in (s.rate_limits[w] for s in r.samples if s.t >= start) if x]
            sent = span(r, start, end, w)
            mean = sum(limits) / len(limits) if limits else 0.0
            out.append(f"{mean:.0f} / {(sent.accepted + sent.rejected) / seconds:.0f}")
        return ", ".join(out)

    row(
        "per worker: mean streams_im_rate_limit / requests sent per second"
        + (f", seconds {SKIP_S}-{end}" if sc.key != "h" else " after the restore"),
        paced,
    )

    def unattributed(r: RunResult) -> str:
        n = sum(rows[-1][0] + rows[-1][1] for rows in r.per_second.values())
        return str(n)

    row("requests not attributed to a worker (user off the assignment)", unattributed, "0")
    for r in pair.values():
        if r.rebalanced:
            out.notes.append(f"{r.control.value}: the group rebalanced during the run")
    return out

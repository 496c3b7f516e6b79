"""The rate policies alone, then several workers against a simulated shared quota.

The simulation (tests/core/rate_simulation.py) is the emulator's fixed 1-second bucket server
with four workers (100 requests/s unless a test says otherwise); the figures asserted here are
the ones docs/PERFORMANCE.md ("Rate control") quotes.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from streams.core.rate_control import (
    DECREASE,
    HOLD_S,
    MIN_DECREASE,
    PENALTY_PAUSE_S,
    ROUND_S,
    Adaptive,
    FixedShare,
    Pacer,
    RateControl,
    policy,
)
from tests.core.rate_simulation import (
    Server,
    SimWorker,
    Steps,
    Totals,
    accepted_per_second,
    simulate,
    totals,
)

QUOTA = 100
HOT: Steps = [(0, 1e9)]  # always a backlog
COLD: Steps = [(0, 10)]  # a tenth of a fair share
SAFETY = 0.98


def test_pacer_spaces_requests_and_banks_no_idle_time() -> None:
    pacer = Pacer()
    assert pacer.wait(0.0, 10) == 0.0
    pacer.take(0.0)
    assert pacer.wait(0.0, 10) == pytest.approx(0.1)
    assert pacer.wait(0.05, 20) == 0.0, "a higher rate applies to the next slot at once"
    assert pacer.wait(10.0, 10) == 0.0
    pacer.take(10.0)
    assert pacer.wait(10.0, 10) == pytest.approx(0.1), "burst 1: idle time does not bank slots"
    pacer.hold(12.0)
    assert pacer.wait(11.0, 10) == pytest.approx(1.0)


def test_fixed_share_pauses_halves_and_recovers() -> None:
    fixed, pacer = FixedShare(share=10), Pacer()
    fixed.succeeded(0.0, bound=True)
    assert fixed.rate(0.0) == 10, "successes do not move the share"
    fixed.limited(0.0, pacer)
    assert pacer.wait(0.0, fixed.rate(0.0)) == pytest.approx(PENALTY_PAUSE_S)
    assert fixed.rate(PENALTY_PAUSE_S) == pytest.approx(5.0)
    assert fixed.rate(PENALTY_PAUSE_S + 2.5) == pytest.approx(7.5)
    assert fixed.rate(PENALTY_PAUSE_S + 5.0) == 10
    fixed.restart(2)
    assert fixed.rate(100.0) == 2


def test_adaptive_grows_only_while_budget_bound_and_never_past_the_budget() -> None:
    rate = Adaptive(ceiling=50, share=10)
    for _ in range(100):
        rate.succeeded(0.0, bound=False)
    assert rate.rate(0.0) == 10, "requests that did not wait: no credit"
    for _ in range(10):
        rate.succeeded(0.0, bound=True)
    assert rate.rate(0.0) == pytest.approx(15), "slow start: +0.5/s per bound success"
    for _ in range(1000):
        rate.succeeded(0.0, bound=True)
    assert rate.rate(0.0) == 50, "the whole budget at most"


def test_adaptive_cuts_once_per_round_and_deeper_when_a_cut_did_not_suffice() -> None:
    rate, pacer = Adaptive(ceiling=500, share=100), Pacer()
    rate.limited(10.0, pacer)
    assert rate.rate(10.0) == pytest.approx(100 * DECREASE)
    assert pacer.wait(10.0, rate.rate(10.0)) == pytest.approx(HOLD_S)
    rate.limited(10.5, pacer)  # a request already sent into the same spent bucket
    assert rate.rate(10.5) == pytest.approx(100 * DECREASE), "one signal per round"
    rate.limited(10.0 + ROUND_S + 0.5, pacer)  # limited again in the very next round
    assert rate.rate(11.5) == pytest.approx(100 * DECREASE**3)
    rate.limited(12.6, pacer)
    rate.limited(13.7, pacer)
    assert rate.rate(14.0) == pytest.approx(100 * DECREASE**7 * MIN_DECREASE)
    rate.limited(30.0, pacer)  # after a quiet round: a plain cut again
    assert rate.rate(30.0) == pytest.approx(100 * DECREASE**8 * MIN_DECREASE)


def test_adaptive_grows_additively_after_a_limit_and_probes_past_it() -> None:
    rate, pacer = Adaptive(ceiling=100, share=20), Pacer()
    rate.limited(0.0, pacer)
    cut = rate.rate(0.0)
    for _ in range(17):  # a second of sending at the cut rate
        rate.succeeded(1.0, bound=True)
    assert rate.rate(1.0) == pytest.approx(cut + 0.6, rel=0.05), "+3 % of 20/s per bound second"
    rate.restart(20)
    assert rate.rate(2.0) == 20 and rate.slow_start, "a rebalance starts over from the share"


def test_policy_by_name() -> None:
    assert isinstance(policy(RateControl.FIXED, 100, 25), FixedShare)
    adaptive = policy(RateControl.ADAPTIVE, 100, 25)
    assert isinstance(adaptive, Adaptive) and adaptive.rate(0.0) == 25


# --- several workers against a shared quota ---------------------------------------------------


def run(
    budget: float,
    demands: list[Steps],
    *,
    quota: Callable[[float], float] = lambda now: QUOTA,
    control: RateControl = RateControl.ADAPTIVE,
    seconds: int = 120,
) -> list[SimWorker]:
    """Workers with equal partition shares of ``budget``, out of step with each other."""
    share = budget * SAFETY / len(demands)
    workers = [
        SimWorker(policy(control, budget * SAFETY, share), demand, phase_s=(0.1 + 0.37 * i) % 0.25)
        for i, demand in enumerate(demands)
    ]
    simulate(workers, Server(quota), seconds)
    return workers


def used(workers: list[SimWorker], start: int, end: int, quota: float = QUOTA) -> float:
    return totals(workers, start, end).accepted / (quota * (end - start))


def converged_at(workers: list[SimWorker], quota: float = QUOTA) -> int:
    """The first second after which no second had more than 10 % of the quota rejected.

    Converged, a cut's round rejects a few requests (at most 8 % of the quota measured here);
    before, a worker sends up to five times what the quota admits.
    """
    seconds = max(max(w.seconds) for w in workers) + 1
    rejected = [totals(workers, s, s + 1).rejected for s in range(seconds)]
    return max((s + 1 for s, r in enumerate(rejected) if r > 0.1 * quota), default=0)


def jain(values: list[int]) -> float:
    """Jain's fairness index: 1 when all equal, 1/n when one takes everything."""
    return sum(values) ** 2 / (len(values) * sum(v * v for v in values))


def test_a_hot_worker_uses_what_idle_ones_leave() -> None:
    """One worker wants 10x each of the three others: together they still fill the quota."""
    workers = run(QUOTA, [HOT, COLD, COLD, COLD])
    whole: Totals = totals(workers, 0, 120)
    assert used(workers, 10, 120) >= 0.9
    assert whole.rejected_share <= 0.02
    hot = totals(workers[:1], 10, 120).accepted
    assert hot > 2 * QUOTA * SAFETY / 4 * 110, "more than twice its partition share"
    assert all(totals([w], 10, 120).accepted >= 1090 for w in workers[1:]), "cold ones served"
    fixed = run(QUOTA, [HOT, COLD, COLD, COLD], control=RateControl.FIXED)
    assert used(fixed, 10, 120) < 0.6, "the fixed split leaves the idle shares unused"


def test_a_budget_five_times_the_quota_converges_within_ten_seconds() -> None:
    for demands in ([HOT] * 4, [HOT, COLD, COLD, COLD]):
        workers = run(5 * QUOTA, demands)
        assert converged_at(workers) <= 10, accepted_per_second(workers, 0, 15)
        after = totals(workers, 10, 120)
        assert after.rejected_share <= 0.02
        assert used(workers, 10, 120) >= 0.9
        assert totals(workers, 0, 120).rejected_share <= 0.03, "convergence included"
    fixed = run(5 * QUOTA, [HOT] * 4, control=RateControl.FIXED)
    assert totals(fixed, 10, 120).rejected_share > 0.05, "the fixed split never converges"


def test_all_hot_workers_share_fairly() -> None:
    late = [(0.0, 10.0), (20.0, 1e9)]  # hot only from second 20: the first one holds the quota
    for demands in ([HOT] * 4, [HOT, late, late, late]):
        workers = run(QUOTA, demands)
        served = [totals([w], 40, 120).accepted for w in workers]
        assert jain(served) >= 0.95, served
        assert min(served) >= 0.6 * sum(served) / len(served), served
        assert used(workers, 40, 120) >= 0.9
        assert totals(workers, 0, 120).rejected_share <= 0.02


def test_settles_after_the_quota_halves_and_is_restored() -> None:
    def quota(now: float) -> float:
        return QUOTA / 2 if 40 <= now < 80 else QUOTA

    workers = run(QUOTA, [HOT] * 4, quota=quota)
    assert totals(workers, 45, 80).rejected_share <= 0.02, "settled on the halved quota in 5 s"
    assert used(workers, 45, 80, QUOTA / 2) >= 0.9
    assert used(workers, 90, 120) >= 0.9, "back on the whole quota within 10 s"
    assert totals(workers, 90, 120).rejected_share <= 0.02

"""The rate policies alone, then several workers against a simulated shared quota.

The simulation (tests/core/rate_simulation.py) is the emulator's fixed 1-second bucket server
with four workers (100 requests/s unless a test says otherwise); the figures asserted here are
the ones docs/PERFORMANCE.md ("Rate control") quotes.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable

import pytest

from streams.core.rate_control import (
    CATCH_UP_S,
    DECREASE,
    HOLD_S,
    INCREASE,
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


def test_a_request_that_waited_takes_the_slot_it_waited_for() -> None:
    pacer = Pacer()
    pacer.take(0.0)
    pacer.take_due(0.104, 10)  # due at 0.1, woken 4 ms late
    assert pacer.wait(0.104, 10) == pytest.approx(0.096), "the next one is due at 0.2, not 0.204"
    pacer.take_due(0.5, 10)  # the event loop stalled: at most CATCH_UP_S is made up
    assert pacer.last == pytest.approx(0.5 - CATCH_UP_S)
    pacer.hold(2.0)
    pacer.take_due(2.0, 10)
    assert pacer.last == 2.0, "a hold is not made up either"


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


def send_for(rate: Adaptive, start: float, seconds: float, room: float = float("inf")) -> float:
    """Budget-bound requests at the policy's own rate from ``start`` for ``seconds``, against a
    fixed 1-second bucket admitting ``room`` of them (the rest answered 60007); the end time."""
    now, second, count, pacer = start, int(start), 0, Pacer()
    while now < start + seconds:
        now = max(now + 1 / rate.rate(now), pacer.hold_until)
        if int(now) != second:
            second, count = int(now), 0
        count += 1
        if count > room:
            rate.limited(now, pacer)
        else:
            rate.succeeded(now, bound=True)
    return now


def test_adaptive_grows_only_while_budget_bound_and_never_past_the_budget() -> None:
    rate = Adaptive(ceiling=50, share=10)
    for _ in range(100):
        rate.succeeded(0.0, bound=False)
    assert rate.rate(0.0) == 10, "requests that did not wait: no credit"
    send_for(rate, 0.0, 10.0)
    assert rate.rate(10.0) == 50, "the whole budget at most"


def test_slow_start_doubles_the_rate_per_second_of_budget_bound_sending() -> None:
    rate = Adaptive(ceiling=1000, share=25)
    send_for(rate, 0.0, 1.0)
    assert rate.slow_start
    assert rate.rate(1.0) == pytest.approx(50, rel=0.05), "x2 per second, as TCP per round trip"
    send_for(rate, 1.0, 1.0)
    assert rate.rate(2.0) == pytest.approx(100, rel=0.05)


@pytest.mark.parametrize("workers", [2, 4])  # of eight: 3 s, of twelve 3.6 s
def test_a_hot_worker_reaches_the_whole_budget_within_3_s_and_leaves_slow_start(
    workers: int,
) -> None:
    budget = 200 * SAFETY
    rate = Adaptive(ceiling=budget, share=budget / workers)
    now = 0.0
    while rate.rate(now) < budget:
        now = send_for(rate, now, 0.01)
    assert now <= 3.0
    assert not rate.slow_start, "the budget ends slow start"
    send_for(rate, now, 5.0)
    assert rate.rate(now + 5) == budget and not rate.slow_start


def test_a_limit_in_slow_start_cuts_from_what_the_im_accepted_then_growth_is_additive() -> None:
    rate = Adaptive(ceiling=1000, share=50)
    now = send_for(rate, 0.0, 1.0)  # ~50 -> ~100/s: ~72 accepted over the round
    reached = rate.rate(now)
    accepted = len(rate.accepted)
    rate.limited(now, Pacer())
    assert not rate.slow_start, "the first limit ends slow start"
    assert rate.limit == accepted < reached, "not the rate reached when the answer came"
    assert rate.rate(now) == pytest.approx(DECREASE * accepted)
    cut = rate.rate(now)
    send_for(rate, now + 0.1, 1.0)
    assert rate.rate(now + 1.1) == pytest.approx(cut + INCREASE * 50, rel=0.05), (
        "additive: INCREASE of the share (at most) per second"
    )
    assert not rate.slow_start


def test_a_slow_start_overshoot_ends_in_one_cut_without_oscillating() -> None:
    """Against a steady room the first limit lands near it, and the worker stays there."""
    rate = Adaptive(ceiling=1000, share=20)
    room = 100
    send_for(rate, 0.0, 3.0, room)
    assert not rate.slow_start and rate.streak == 0, "one cut, no deeper second one"
    rates, cuts = [], 0
    for second in range(3, 40):
        before = rate.round_ends
        send_for(rate, float(second), 1.0, room)
        cuts += rate.round_ends != before
        rates.append(rate.rate(second + 1.0))
        assert not rate.slow_start, "the room does not grow: no probing past it"
    assert min(rates) >= DECREASE**2 * room and max(rates) <= 1.02 * room, rates
    assert cuts <= 37 / 2, "a cut every other second at most: the sawtooth, not a flutter"


def test_at_the_last_limit_without_a_signal_slow_start_resumes() -> None:
    rate = Adaptive(ceiling=1000, share=50)
    rate.limited(0.0, Pacer())  # nothing accepted yet: cut from half the rate
    limit = rate.limit
    now = send_for(rate, 1.0, 10.0, room=limit - 1)  # the room it was limited at
    assert not rate.slow_start
    now = send_for(rate, now, 10.0)  # the quota grew: no more signals
    assert rate.slow_start or rate.rate(now) == 1000
    assert rate.rate(now) > 4 * limit, "doubling again, not +2.5/s"


def test_adaptive_cuts_once_per_round_and_deeper_when_a_cut_did_not_suffice() -> None:
    rate, pacer = Adaptive(ceiling=500, share=100), Pacer()
    rate.slow_start = False  # the additive phase: cuts from the rate itself
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


def test_a_rebalance_restarts_slow_start_from_the_new_share() -> None:
    rate = Adaptive(ceiling=200, share=50)
    send_for(rate, 0.0, 20.0, room=120)
    assert not rate.slow_start and rate.limit < float("inf")
    rate.restart(25)
    assert (rate.rate(20.0), rate.slow_start, rate.limit) == (25, True, float("inf"))
    rate.restart(400)
    assert rate.rate(20.0) == 200 and not rate.slow_start, "the share already is the budget"


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


def noisy(rate: float, seconds: int, seed: int) -> Steps:
    """A demand whose every second is drawn around ``rate`` (Poisson-like spread), seeded."""
    rng = random.Random(seed)
    return [(float(s), max(0.0, rng.gauss(rate, math.sqrt(rate)))) for s in range(seconds)]


def test_a_hot_worker_beside_noisy_cold_ones_keeps_95_percent_of_the_quota() -> None:
    """Bench (f): the hot worker's room is what the cold ones' noisy demand leaves each second."""
    demands = [noisy(210, 75, 1), *(noisy(30, 75, 11 + i) for i in range(3))]
    workers = run(200, demands, quota=lambda now: 200, seconds=75)
    assert used(workers, 10, 75, 200) >= 0.95
    assert totals(workers, 10, 75).rejected_share <= 0.01


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
    # 12.5/s per worker: each probe's one or two refusals weigh more than at the bench's 25-50/s
    assert totals(workers, 45, 80).rejected_share <= 0.035, "settled on the halved quota in 5 s"
    assert used(workers, 45, 80, QUOTA / 2) >= 0.9
    assert used(workers, 90, 120) >= 0.9, "back on the whole quota within 10 s"
    assert totals(workers, 90, 120).rejected_share <= 0.02

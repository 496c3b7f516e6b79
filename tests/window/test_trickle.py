"""The trickle of a window's outcomes: held records go out at most every interval."""

import asyncio

from streams.window.trickle import Trickle
from tests.fakes import CountingSink


def test_held_records_wait_for_the_interval_and_a_send_takes_everything() -> None:
    clock = [0.0]
    sink = CountingSink()
    trickle = Trickle(sink, 0.025, clock=lambda: clock[0])

    async def scenario() -> None:
        trickle.add((b"k", b"1"))
        await trickle.send_due()
        assert sink.sends == [], "25 ms have not passed since the trickle started"
        clock[0] = 0.03
        trickle.add((b"k", b"2"))
        await trickle.send_due()
        clock[0] = 0.04
        trickle.add((None, b"3"))
        await trickle.send_due()
        assert sink.sends == [[b"1", b"2"]], "10 ms after a send, the next is not due"
        await trickle.send()
        await trickle.send()
        clock[0] = 1.0
        await trickle.send_due()

    asyncio.run(scenario())
    assert sink.sends == [[b"1", b"2"], [b"3"]], "nothing held: no empty sends"
    assert len(trickle.futures) == 2

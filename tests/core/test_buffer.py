"""Window flushing with an injected clock: due a window after the first event, or when full."""

import pytest

from streams.core.buffer import WindowBuffer


def test_the_window_is_due_a_window_after_its_first_event() -> None:
    buffer: WindowBuffer[str] = WindowBuffer(max_items=10, window_s=0.25)
    assert buffer.wait_s(100.0) is None, "empty: nothing to wait for"
    buffer.add("a", now=100.0)
    buffer.add("b", now=100.2)
    assert buffer.wait_s(100.2) == pytest.approx(0.05), "the timer is the first event's"
    assert buffer.wait_s(100.3) == 0.0
    assert buffer.take() == ["a", "b"]
    assert len(buffer) == 0 and buffer.wait_s(100.3) is None
    buffer.add("c", now=101.0)
    assert buffer.wait_s(101.0) == pytest.approx(0.25), "the next window has its own timer"


def test_a_full_window_is_due_at_once_and_refuses_more() -> None:
    buffer: WindowBuffer[int] = WindowBuffer(max_items=2, window_s=5.0)
    buffer.add(1, now=0.0)
    assert not buffer.full
    buffer.add(2, now=0.1)
    assert buffer.full and buffer.wait_s(0.1) == 0.0
    with pytest.raises(OverflowError):
        buffer.add(3, now=0.2)
    assert buffer.take() == [1, 2]
    buffer.add(3, now=0.3)
    assert buffer.take() == [3]


def test_full_is_one_partitions_share_reaching_the_limit() -> None:
    """Windows are per partition: each partition may bring max_items into the window, and
    the window is due as soon as one of them has."""
    buffer: WindowBuffer[str] = WindowBuffer(max_items=2, window_s=5.0, max_total=10)
    buffer.add("a0", now=0.0, partition=0)
    buffer.add("a1", now=0.0, partition=1)
    buffer.add("b1", now=0.0, partition=1)
    assert buffer.full and buffer.wait_s(0.0) == 0.0, "partition 1 holds 2"
    with pytest.raises(OverflowError):
        buffer.add("b0", now=0.0, partition=0)
    assert buffer.take() == ["a0", "a1", "b1"]
    buffer.add("b0", now=1.0, partition=0)
    buffer.add("c1", now=1.0, partition=1)
    assert not buffer.full, "the counts start again with the next window"


def test_the_whole_window_is_bounded_too() -> None:
    buffer: WindowBuffer[int] = WindowBuffer(max_items=2, window_s=5.0, max_total=3)
    for partition in range(3):
        assert not buffer.full
        buffer.add(partition, now=0.0, partition=partition)
    assert buffer.full, "three partitions of one event each fill a window of three"


def test_nonsense_sizes_are_refused() -> None:
    with pytest.raises(ValueError):
        WindowBuffer(max_items=2, window_s=1.0, max_total=1)
    with pytest.raises(ValueError):
        WindowBuffer(max_items=0, window_s=1.0)
    with pytest.raises(ValueError):
        WindowBuffer(max_items=1, window_s=-1.0)

"""The replay's read-ahead thread: order, bounded lead, errors and early stop."""

from __future__ import annotations

import time

import pytest

from event_store.service.read_ahead import ReadAhead


def test_items_arrive_in_order_and_the_producer_stays_at_most_depth_ahead():
    produced: list[int] = []

    def items():
        for n in range(10):
            produced.append(n)
            yield n

    with ReadAhead(items(), depth=2, name="test") as ahead:
        iterator = iter(ahead)
        assert next(iterator) == 0
        time.sleep(0.2)
        assert len(produced) <= 4  # the one taken, two queued, one waiting to be put
        assert list(iterator) == list(range(1, 10))


def test_an_error_of_the_producer_is_raised_in_the_consumer():
    def items():
        yield 1
        raise OSError("disk gone")

    with ReadAhead(items(), depth=2, name="test") as ahead, pytest.raises(OSError, match="disk"):
        assert list(ahead) == [1]


def test_closing_early_stops_the_producer_thread():
    def endless():
        n = 0
        while True:
            yield n
            n += 1

    ahead = ReadAhead(endless(), depth=1, name="test")
    assert next(iter(ahead)) == 0
    ahead.close()
    assert not ahead._thread.is_alive()

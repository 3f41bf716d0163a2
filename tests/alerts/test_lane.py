from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from otelperf.alerts import Alert
from otelperf.alerts._lane import Lane
from tests.alerts.helpers import HANG_S, make_alert


def _deadline(seconds: float) -> int:
    return time.monotonic_ns() + int(seconds * 1e9)


class _Blocking:
    """A handler that blocks until released and records what it handled."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.entered = threading.Event()
        self.handled: list[Alert] = []

    def __call__(self, alert: Alert) -> None:
        self.entered.set()
        self.release.wait(HANG_S)
        self.handled.append(alert)


@pytest.fixture
def blocking() -> Iterator[_Blocking]:
    handler = _Blocking()
    yield handler
    handler.release.set()


class TestLane:
    def test_put_refuses_beyond_max_size_without_blocking(self, blocking: _Blocking) -> None:
        """With one alert in flight and max_size waiting, the next put returns False at once."""
        lane = Lane(thread_name="otelperf-test-lane", handle=blocking, max_size=2)
        assert lane.put(make_alert(actual=1.0))
        assert blocking.entered.wait(5)
        assert lane.put(make_alert(actual=2.0)) and lane.put(make_alert(actual=3.0))
        started = time.monotonic()
        assert not lane.put(make_alert(actual=4.0))
        assert time.monotonic() - started < 0.1
        blocking.release.set()
        assert lane.flush(_deadline(5))
        assert [a.actual for a in blocking.handled] == [1.0, 2.0, 3.0]
        lane.stop()
        assert lane.join(_deadline(5))

    def test_flush_times_out_while_handler_blocks(self, blocking: _Blocking) -> None:
        """flush() returns False at its deadline, then True once the handler finished."""
        lane = Lane(thread_name="otelperf-test-lane", handle=blocking, max_size=5)
        lane.put(make_alert())
        started = time.monotonic()
        assert not lane.flush(_deadline(0.2))
        assert 0.15 < time.monotonic() - started < 1.0
        blocking.release.set()
        assert lane.flush(_deadline(5))
        lane.stop()
        assert lane.join(_deadline(5))

    def test_stop_drains_queue_then_calls_on_exit(self, blocking: _Blocking) -> None:
        """After stop(), queued alerts are still handled, then on_exit runs and the thread ends."""
        exits: list[int] = []
        lane = Lane(
            thread_name="otelperf-test-lane",
            handle=blocking,
            max_size=5,
            on_exit=lambda: exits.append(len(blocking.handled)),
        )
        for value in (1.0, 2.0, 3.0):
            lane.put(make_alert(actual=value))
        lane.stop()
        assert not lane.put(make_alert())
        blocking.release.set()
        assert lane.join(_deadline(5))
        assert exits == [3]

    def test_discard_drops_queued_alerts_and_unblocks_flush(self, blocking: _Blocking) -> None:
        """discard() empties the queue, reports the count and lets flush() complete."""
        lane = Lane(thread_name="otelperf-test-lane", handle=blocking, max_size=5)
        lane.put(make_alert())
        assert blocking.entered.wait(5)
        lane.put(make_alert())
        lane.put(make_alert())
        assert lane.discard() == 2
        blocking.release.set()
        assert lane.flush(_deadline(5))
        assert len(blocking.handled) == 1
        lane.stop()
        assert lane.join(_deadline(5))

    def test_lane_created_stopped_accepts_nothing(self) -> None:
        """start=False gives a lane with no thread that refuses alerts and flushes at once."""
        lane = Lane(
            thread_name="otelperf-test-lane", handle=lambda alert: None, max_size=5, start=False
        )
        assert lane.stopping
        assert not lane.put(make_alert())
        assert lane.flush(_deadline(0))
        assert lane.join(_deadline(0))

    def test_join_from_own_thread_returns_false(self) -> None:
        """A handler that tries to join its own lane gets False instead of a deadlock."""
        results: list[bool] = []
        lane: Lane

        def handle(alert: Alert) -> None:
            results.append(lane.join(_deadline(1)))

        lane = Lane(thread_name="otelperf-test-lane", handle=handle, max_size=5)
        lane.put(make_alert())
        assert lane.flush(_deadline(5))
        assert results == [False]
        lane.stop()
        assert lane.join(_deadline(5))

    def test_thread_is_named_daemon(self) -> None:
        """The worker is a daemon thread with the given name."""
        lane = Lane(thread_name="otelperf-test-lane", handle=lambda alert: None, max_size=5)
        [thread] = [t for t in threading.enumerate() if t.name == "otelperf-test-lane"]
        assert thread.daemon
        lane.stop()
        assert lane.join(_deadline(5))

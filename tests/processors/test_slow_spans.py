"""SlowSpanWatch on a FakeClock-driven Aggregator fed through the real SDK."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from otelperf.processors.aggregator import Aggregator
from otelperf.processors.budgets import SlowSpanWatch
from otelperf.processors.latency import LatencyProcessor
from otelperf.testing import FakeClock, capture_spans


class SlowRig:
    """An aggregator on a fake clock whose slow spans go to a SlowSpanWatch."""

    def __init__(self, **options: Any) -> None:
        self.clock = FakeClock()
        self.aggregator = Aggregator(interval_s=3600, clock=self.clock)
        self.calls: list[tuple[str, float, str]] = []
        self.called = threading.Semaphore(0)
        self.watch = SlowSpanWatch(on_slow=self.on_slow, clock=self.clock, **options)
        self.aggregator.watch_slow(self.watch.threshold_ns, self.watch)
        self.trace_ids: list[str] = []

    def on_slow(self, name: str, duration_ms: float, trace_id: str) -> None:
        self.calls.append((name, duration_ms, trace_id))
        self.called.release()

    def spans(self, *items: tuple[str, float]) -> None:
        with capture_spans(processors=[LatencyProcessor(self.aggregator)]) as captured:
            for name, duration_ms in items:
                span = captured.tracer.start_span(name, start_time=1_000)
                span.end(end_time=1_000 + round(duration_ms * 1e6))
                self.trace_ids.append(format(span.get_span_context().trace_id, "032x"))
        self.aggregator.flush()

    def wait_calls(self, n: int) -> list[tuple[str, float, str]]:
        for _ in range(n):
            assert self.called.acquire(timeout=5)
        self.watch.shutdown()  # runs the queued calls, then stops: nothing more can arrive
        return self.calls

    def close(self) -> None:
        self.aggregator.shutdown()
        self.watch.shutdown()


@pytest.fixture
def slow_rigs() -> Iterator[list[SlowRig]]:
    made: list[SlowRig] = []
    yield made
    for r in made:
        r.close()


def slow_rig(made: list[SlowRig], **options: Any) -> SlowRig:
    r = SlowRig(**options)
    made.append(r)
    return r


class TestSlowSpans:
    def test_spans_over_slow_ms_reach_on_slow_with_name_duration_and_trace(
        self, slow_rigs: list[SlowRig]
    ) -> None:
        """on_slow gets (span name, duration in ms, trace id hex) for spans >= slow_ms only."""
        r = slow_rig(slow_rigs, slow_ms=100, very_slow_ms=None)
        r.spans(("fast", 99), ("slow", 150))
        assert r.wait_calls(1) == [("slow", 150.0, r.trace_ids[1])]

    def test_rate_limited_per_operation_per_second(self, slow_rigs: list[SlowRig]) -> None:
        """Ten slow spans of one operation make one call; another operation gets its own."""
        r = slow_rig(slow_rigs, slow_ms=100, very_slow_ms=None)
        r.spans(*[("a", 200)] * 10, ("b", 200))
        r.clock.advance(seconds=0.5)
        r.spans(("a", 200))
        r.clock.advance(seconds=0.5)
        r.spans(("a", 300))
        calls = r.wait_calls(3)
        assert [(name, ms) for name, ms, _ in calls] == [("a", 200.0), ("b", 200.0), ("a", 300.0)]
        assert r.watch.dropped == 10

    def test_very_slow_spans_are_not_hidden_by_slow_ones(self, slow_rigs: list[SlowRig]) -> None:
        """A very slow span right after a slow one of the same operation still gets its call."""
        r = slow_rig(slow_rigs, slow_ms=100, very_slow_ms=1000)
        r.spans(("a", 200), ("a", 5000), ("a", 6000))
        assert [ms for _, ms, _ in r.wait_calls(2)] == [200.0, 5000.0]

    def test_very_slow_spans_are_logged_once_per_interval(
        self, slow_rigs: list[SlowRig], caplog: pytest.LogCaptureFixture
    ) -> None:
        """Very slow spans log one WARNING per operation per log_interval_s."""
        r = slow_rig(slow_rigs, slow_ms=None, very_slow_ms=1000, log_interval_s=60)
        with caplog.at_level(logging.WARNING, logger="otelperf"):
            r.spans(("a", 2000), ("a", 3000), ("b", 2000))
            r.clock.advance(seconds=61)
            r.spans(("a", 4000))
        messages = [rec.getMessage() for rec in caplog.records if "very slow" in rec.getMessage()]
        assert len(messages) == 3
        assert messages[0].startswith("otelperf: very slow span 'a' took 2000 ms")

    def test_a_raising_callback_does_not_stop_later_calls(
        self, slow_rigs: list[SlowRig], caplog: pytest.LogCaptureFixture
    ) -> None:
        """on_slow raising is logged; the next slow span still gets its call."""
        r = slow_rig(slow_rigs, slow_ms=100, very_slow_ms=None)
        calls: list[str] = []

        def flaky(name: str, duration_ms: float, trace_id: str) -> None:
            calls.append(name)
            r.called.release()
            if name == "a":
                raise RuntimeError("boom")

        r.watch._on_slow = flaky
        r.watch.shutdown()
        r.watch._start()  # restart the thread with the flaky callback
        with caplog.at_level(logging.WARNING, logger="otelperf"):
            r.spans(("a", 200), ("b", 200))
            r.wait_calls(2)
        assert calls == ["a", "b"]
        assert any("on_slow raised" in rec.getMessage() for rec in caplog.records)

    def test_needs_a_threshold(self) -> None:
        """Without slow_ms or very_slow_ms the watch refuses to start."""
        with pytest.raises(ValueError, match="slow_ms or very_slow_ms"):
            SlowSpanWatch(slow_ms=None, very_slow_ms=None, on_slow=None)

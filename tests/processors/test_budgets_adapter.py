"""BudgetMonitor and SlowSpanWatch on a FakeClock-driven Aggregator fed through the real SDK."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from otelperf.alerts import Alert, AlertDispatcher, CallbackSink
from otelperf.budgets import BudgetEvaluator, parse_budgets
from otelperf.processors.aggregator import Aggregator
from otelperf.processors.budgets import BudgetMonitor, SlowSpanWatch, to_alert
from otelperf.processors.latency import LatencyProcessor
from otelperf.testing import FakeClock, capture_spans


class Rig:
    """An aggregator on a fake clock with a BudgetMonitor whose alerts land in a list."""

    def __init__(
        self,
        budgets: str,
        *,
        alerts: bool = True,
        evaluate_interval_s: float = 0.0,
        **evaluator: Any,
    ) -> None:
        self.clock = FakeClock()
        self.aggregator = Aggregator(ring_size=100_000, interval_s=3600, clock=self.clock)
        self.alerts: list[Alert] = []
        sink = CallbackSink(self.alerts.append, name="test")
        self.dispatcher = AlertDispatcher([sink]) if alerts else None
        options = {"alert_interval_s": 1.0, **evaluator}
        self.monitor = BudgetMonitor(
            self.aggregator,
            lambda: BudgetEvaluator(parse_budgets(budgets, origin="test"), **options),
            dispatcher=self.dispatcher,
            service="shop",
            resource={"service.name": "shop", "host.name": "h1"},
            evaluate_interval_s=evaluate_interval_s,
        )
        self.aggregator.add_tick_hook(self.monitor)

    def spans(self, name: str, duration_ms: float, count: int = 50) -> None:
        """End ``count`` spans of ``name`` lasting ``duration_ms`` and drain them (one tick)."""
        with capture_spans(processors=[LatencyProcessor(self.aggregator)]) as captured:
            for _ in range(count):
                span = captured.tracer.start_span(name, start_time=1_000)
                span.end(end_time=1_000 + round(duration_ms * 1e6))
        self.aggregator.flush()

    def tick(self, *, seconds: float) -> None:
        """Move the clock and run one aggregator tick without new spans."""
        self.clock.advance(seconds=seconds)
        self.aggregator.flush()

    def delivered(self) -> list[Alert]:
        """The alerts delivered so far (waits for the dispatcher's threads)."""
        assert self.dispatcher is not None
        assert self.dispatcher.flush(5)
        return list(self.alerts)

    def close(self) -> None:
        self.aggregator.shutdown()
        if self.dispatcher is not None:
            self.dispatcher.shutdown(2)


@pytest.fixture
def rigs() -> Iterator[list[Rig]]:
    made: list[Rig] = []
    yield made
    for rig in made:
        rig.close()


def rig(rigs: list[Rig], budgets: str, **options: Any) -> Rig:
    made = Rig(budgets, **options)
    rigs.append(made)
    return made


class TestBudgetAlerts:
    def test_breach_sends_an_alert_with_the_measured_fields(self, rigs: list[Rig]) -> None:
        """50 spans of 300 ms against p95<100ms send one critical budget alert, fully described."""
        r = rig(rigs, "GET /a p95<100ms")
        r.spans("GET /a", 300)
        [alert] = r.delivered()
        assert (alert.kind.value, alert.severity.value, alert.operation) == (
            "budget",
            "critical",
            "GET /a",
        )
        assert alert.budget == "GET /a p95<100ms"
        assert alert.statistic == "p95"
        assert alert.actual == pytest.approx(300, rel=0.01)
        assert (alert.threshold, alert.unit.value, alert.window_s) == (100.0, "ms", 60.0)
        assert alert.service == "shop"
        assert dict(alert.resource) == {"service.name": "shop", "host.name": "h1"}

    def test_healthy_traffic_sends_nothing(self, rigs: list[Rig]) -> None:
        """Spans well under the budget raise no alert."""
        r = rig(rigs, "GET /a p95<100ms")
        r.spans("GET /a", 20)
        r.tick(seconds=1)
        assert r.delivered() == []

    def test_recovery_sends_resolved(self, rigs: list[Rig]) -> None:
        """When the slow spans left the window and fast ones came, a resolved alert follows."""
        r = rig(rigs, "GET /a p95<100ms")
        r.spans("GET /a", 300)
        r.clock.advance(seconds=61)
        r.spans("GET /a", 10)
        breach, resolved = r.delivered()
        assert breach.severity.value == "critical"
        assert (resolved.severity.value, resolved.operation) == ("resolved", "GET /a")
        assert resolved.actual == pytest.approx(10, rel=0.01)
        assert breach.fingerprint == resolved.fingerprint

    def test_traffic_stopping_resolves_without_a_value(self, rigs: list[Rig]) -> None:
        """An operation with no traffic left resolves with NaN and a detail saying why."""
        r = rig(rigs, "GET /a p95<100ms")
        r.spans("GET /a", 300)
        r.tick(seconds=70)
        _, resolved = r.delivered()
        assert resolved.severity.value == "resolved"
        assert resolved.to_dict()["actual"] is None
        assert "no measurement" in (resolved.detail or "")

    def test_live_window_is_judged_at_most_every_evaluate_interval(self, rigs: list[Rig]) -> None:
        """A breach 0.5 s after a judgement waits for the next one, 1 s after it."""
        r = rig(rigs, "GET /* p95<100ms", evaluate_interval_s=1.0)
        r.spans("GET /a", 300)
        r.clock.advance(seconds=0.5)
        r.spans("GET /b", 300)
        assert [a.operation for a in r.delivered()] == ["GET /a"]
        r.tick(seconds=0.5)
        assert [a.operation for a in r.delivered()] == ["GET /a", "GET /b"]

    def test_report_reflects_the_last_tick(self, rigs: list[Rig]) -> None:
        """report() gives each (budget, operation) state with the measured value."""
        r = rig(rigs, "GET /* p95<100ms; GET /missing p50<1ms", alerts=False)
        r.spans("GET /a", 150)
        r.spans("GET /b", 20)
        report = [(s.operation, s.state) for s in r.monitor.report()]
        assert report == [
            ("GET /a", "error"),
            ("GET /b", "ok"),
            ("GET /missing", "insufficient_data"),
        ]


class TestSlo:
    def test_fast_burn_through_closed_sub_windows_pages(self, rigs: list[Rig]) -> None:
        """Slow requests in a closed sub-window burn a 99% SLO at 100x: a critical slo alert."""
        r = rig(rigs, "GET /a 99%<100ms over 30d")
        r.spans("GET /a", 300)
        assert r.delivered() == []  # the sub-window is still open: observe has not seen it
        r.tick(seconds=10)
        [alert] = r.delivered()
        assert (alert.kind.value, alert.severity.value) == ("slo", "critical")
        assert alert.operation == "GET /a"
        assert alert.ratio == pytest.approx(100)
        assert "burn rate 100" in (alert.detail or "")
        [status] = r.monitor.report()
        assert status.burn_rate == pytest.approx(100)

    def test_six_quiet_hours_resolve_it(self, rigs: list[Rig]) -> None:
        """Empty sub-windows are observed too, so an SLO whose traffic stopped resolves."""
        r = rig(rigs, "GET /a 99%<100ms over 30d")
        r.spans("GET /a", 300)
        r.tick(seconds=10)
        r.tick(seconds=7 * 3600)
        assert [a.severity.value for a in r.delivered()] == ["critical", "resolved"]


class TestRegression:
    def test_an_operation_twice_as_slow_as_its_baseline_alerts(self, rigs: list[Rig]) -> None:
        """After 12 learned sub-windows at 10 ms, a window at 100 ms is a regression."""
        r = rig(rigs, "", regression_warmup_windows=3)
        for _ in range(4):
            r.spans("GET /a", 10, count=30)
            r.clock.advance(seconds=10)
        r.clock.advance(seconds=60)
        r.spans("GET /a", 100)
        [alert] = r.delivered()
        assert (alert.kind.value, alert.severity.value, alert.operation) == (
            "regression",
            "critical",
            "GET /a",
        )
        assert alert.threshold == pytest.approx(20, rel=0.02)
        assert "baseline p95 10" in (alert.detail or "")


class TestMetrics:
    def test_state_breaches_and_burn_rate_are_observed(self, rigs: list[Rig]) -> None:
        """The three instruments report the budget state, breach count and SLO burn rate."""
        r = rig(rigs, "GET /a p95<100ms; GET /a 99%<100ms over 30d")
        reader = InMemoryMetricReader()
        provider = MeterProvider(metric_readers=[reader])
        r.monitor.register_metrics(provider.get_meter("otelperf"))
        r.spans("GET /a", 300)
        r.tick(seconds=10)
        data = reader.get_metrics_data()
        assert data is not None
        points: dict[str, list[tuple[dict[str, Any], float]]] = {}
        units: dict[str, str] = {}
        for resource_metrics in data.resource_metrics:
            for scope in resource_metrics.scope_metrics:
                for metric in scope.metrics:
                    units[metric.name] = metric.unit or ""
                    points[metric.name] = [
                        (dict(p.attributes or {}), p.value)  # type: ignore[union-attr]
                        for p in metric.data.data_points
                    ]
        provider.shutdown()
        assert units == {
            "otelperf.budget.state": "",
            "otelperf.budget.breaches": "{breach}",
            "otelperf.slo.burn_rate": "1",
        }
        assert ({"budget": "GET /a p95<100ms", "operation": "GET /a"}, 3) in points[
            "otelperf.budget.state"
        ]
        assert points["otelperf.budget.breaches"] == [
            (
                {"budget": "GET /a 99%<100ms over 30d", "operation": "GET /a", "state": "critical"},
                1,
            ),
            ({"budget": "GET /a p95<100ms", "operation": "GET /a", "state": "critical"}, 1),
        ]
        [(attributes, burn)] = points["otelperf.slo.burn_rate"]
        assert attributes == {
            "budget": "GET /a 99%<100ms over 30d",
            "operation": "GET /a",
            "window": "1h",
        }
        assert burn == pytest.approx(100)


class TestToAlert:
    def test_a_transition_with_an_impossible_value_raises_value_error(self) -> None:
        """to_alert rejects what Alert rejects (the monitor logs and drops such alerts)."""
        from otelperf.budgets import Transition

        transition = Transition(
            kind="budget",
            operation="x",
            state="warning",
            previous="ok",
            budget=None,
            budget_text="x p95<1ms",
            actual=2.0,
            threshold=1.0,
            unit="ms",
            ratio=2.0,
            window_s=-1.0,
            at_ns=0,
        )
        with pytest.raises(ValueError, match="window_s"):
            to_alert(transition, service="shop")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
class TestFork:
    def test_child_starts_with_fresh_budget_states(self, rigs: list[Rig]) -> None:
        """A forked child does not inherit the parent's open breach (it would falsely resolve)."""
        r = rig(rigs, "GET /a p95<100ms", alerts=False)
        r.spans("GET /a", 300)
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                states = [s.state for s in r.monitor.report()]
                os.write(write, b"ok" if states == ["insufficient_data"] else repr(states).encode())
            finally:
                os._exit(0)
        os.close(write)
        answer = os.read(read, 200)
        os.close(read)
        os.waitpid(pid, 0)
        assert answer == b"ok"
        assert [s.state for s in r.monitor.report()] == ["critical"]


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

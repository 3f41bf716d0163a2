"""BudgetMonitor on a FakeClock-driven Aggregator fed through the real SDK."""

from __future__ import annotations

import os
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from otelperf.processors.budgets import to_alert
from tests.budgets.rig import Rig, all_rigs, rig

rigs_fixture = pytest.fixture(all_rigs, name="rigs")


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
        burns = points["otelperf.slo.burn_rate"]
        assert [attributes["window"] for attributes, _ in burns] == ["5m", "1h", "30m", "6h"]
        for attributes, burn in burns:
            assert attributes["budget"] == "GET /a 99%<100ms over 30d"
            assert attributes["operation"] == "GET /a"
            assert burn == pytest.approx(100)  # every window holds the same 50 slow requests

    def test_each_burn_window_is_its_own_point(self, rigs: list[Rig]) -> None:
        """Six minutes after a burst the 5m window burns 0 while 1h, 30m and 6h still burn."""
        r = rig(rigs, "GET /a 99%<100ms over 30d", alerts=False)
        reader = InMemoryMetricReader()
        provider = MeterProvider(metric_readers=[reader])
        r.monitor.register_metrics(provider.get_meter("otelperf"))
        r.spans("GET /a", 300)
        for _ in range(36):
            r.clock.advance(seconds=10)
            r.spans("GET /a", 10, count=10)
        r.tick(seconds=10)
        data = reader.get_metrics_data()
        provider.shutdown()
        assert data is not None
        [metric] = [
            m
            for rm in data.resource_metrics
            for sm in rm.scope_metrics
            for m in sm.metrics
            if m.name == "otelperf.slo.burn_rate"
        ]
        burns = {
            (p.attributes or {})["window"]: p.value  # type: ignore[union-attr]
            for p in metric.data.data_points
        }
        assert list(burns) == ["5m", "1h", "30m", "6h"]
        assert burns["5m"] == 0.0  # 300 fast requests, none over 100 ms
        for window in ("1h", "30m", "6h"):
            assert burns[window] == pytest.approx(50 / 410 / 0.01)


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

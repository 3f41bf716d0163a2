"""Alerts link a recent exported trace over the breached threshold (DESIGN §8)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

import otelperf
from otelperf.alerts import Alert
from otelperf.processors.aggregator import Aggregator
from otelperf.processors.budget_examples import ExampleDuty
from otelperf.processors.budgets import SlowSpanWatch
from tests.budgets.rig import Rig, all_rigs, rig

rigs_fixture = pytest.fixture(all_rigs, name="rigs")

NEVER_NS = 2**63


class TestExampleTraces:
    def test_a_budget_alert_carries_the_latest_slow_sampled_trace(self, rigs: list[Rig]) -> None:
        """The breach alert names the trace of the last span over 100 ms."""
        r = rig(rigs, "GET /a p95<100ms")
        trace_ids = r.spans("GET /a", 300)
        [alert] = r.delivered()
        assert alert.trace_id == trace_ids[-1]
        assert alert.to_dict()["trace_id"] == trace_ids[-1]

    def test_unsampled_spans_are_never_examples(self, rigs: list[Rig]) -> None:
        """A span the head sampler dropped was not exported: no trace to link."""
        r = rig(rigs, "GET /a p95<100ms")
        r.spans("GET /a", 300, sampled=False)
        [alert] = r.delivered()
        assert alert.trace_id is None

    def test_sampled_spans_under_the_threshold_are_not_examples(self, rigs: list[Rig]) -> None:
        """Only spans over the budget's threshold show the problem."""
        r = rig(rigs, "GET /a p95<100ms")
        r.spans("GET /a", 10, count=45)
        r.spans("GET /a", 300, count=5, sampled=False)  # p95 = 300 ms, all slow ones unsampled
        [alert] = r.delivered()
        assert (alert.severity.value, alert.trace_id) == ("critical", None)

    def test_each_operation_gets_its_own_example(self, rigs: list[Rig]) -> None:
        """A glob budget links each operation's alert to that operation's trace."""
        r = rig(rigs, "GET /* p95<100ms")
        a_ids = r.spans("GET /a", 300)
        b_ids = r.spans("GET /b", 300)
        alerts = {alert.operation: alert.trace_id for alert in r.delivered()}
        assert alerts == {"GET /a": a_ids[-1], "GET /b": b_ids[-1]}

    def test_each_threshold_gets_its_own_example(self, rigs: list[Rig]) -> None:
        """A 250 ms span is an example for p95<100ms, not for p99<500ms."""
        r = rig(rigs, "GET /a p95<100ms; GET /a p99<500ms")
        slow = r.spans("GET /a", 250, count=45)
        slower = r.spans("GET /a", 700, count=5, sampled=False)
        assert slower  # p99 = 700 ms: both budgets break
        alerts = {alert.budget: alert.trace_id for alert in r.delivered()}
        assert alerts == {"GET /a p95<100ms": slow[-1], "GET /a p99<500ms": None}

    def test_an_example_older_than_the_window_is_not_linked(self, rigs: list[Rig]) -> None:
        """Ten minutes later a new breach from unsampled spans has no example."""
        r = rig(rigs, "GET /a p95<100ms")
        r.spans("GET /a", 300)
        r.tick(seconds=600)
        r.spans("GET /a", 300, sampled=False)
        r.tick(seconds=2)  # past the 1 s rate limit of the resolve just sent
        first, resolved, again = r.delivered()
        assert first.trace_id is not None
        assert (resolved.severity.value, resolved.trace_id) == ("resolved", None)
        assert (again.severity.value, again.trace_id) == ("critical", None)

    def test_an_slo_alert_carries_a_trace_of_a_selected_operation(self, rigs: list[Rig]) -> None:
        """The SLO alert (operation = selector) links a span over its latency threshold."""
        r = rig(rigs, "GET /* 99%<100ms over 30d")
        trace_ids = r.spans("GET /a", 300)
        r.tick(seconds=10)
        [alert] = r.delivered()
        assert (alert.kind.value, alert.operation, alert.trace_id) == (
            "slo",
            "GET /*",
            trace_ids[-1],
        )


class TestRequestPath:
    def test_no_latency_budget_keeps_no_span(self, rigs: list[Rig]) -> None:
        """Error-rate budgets and regressions install no slow watcher: no span is held."""
        r = rig(rigs, "GET /a error_rate<1%")
        assert r.aggregator.slow_ns == NEVER_NS

    def test_the_lowest_budget_threshold_is_watched(self, rigs: list[Rig]) -> None:
        """Spans over the lowest latency threshold are kept until the drain, no others."""
        r = rig(rigs, "GET /a p95<100ms; GET /b p99<40ms; GET /c error_rate<1%")
        assert r.aggregator.slow_ns == 40_000_000


class TestExampleDuty:
    @pytest.mark.parametrize(
        ("drains", "expected"),
        [
            ([(0, 10), (100, 255)], [True, True]),  # few spans over the threshold: always
            ([(0, 256), (500, 0), (999, 0), (1000, 0)], [False, False, False, True]),
            ([(0, 300), (1000, 0), (1100, 300), (2100, 0)], [False, True, False, True]),
            ([(0, 300), (1000, 0), (1100, 5)], [False, True, True]),  # calm again: always
        ],
    )
    def test_pauses_for_a_second_after_a_busy_drain(
        self, drains: list[tuple[int, int]], expected: list[bool]
    ) -> None:
        """At 256+ spans in one drain, watch again only after 1 s, for one drain at a time."""
        duty = ExampleDuty()
        ms = 1_000_000
        assert [duty.after_drain(t * ms, handed) for t, handed in drains] == expected

    def test_a_busy_outage_pauses_the_watcher_and_resumes_it(self, rigs: list[Rig]) -> None:
        """300 slow spans in one drain: the ring stops holding spans for 1 s, then resumes."""
        r = rig(rigs, "GET /a p95<100ms")
        trace_ids = r.spans("GET /a", 300, count=300)
        assert r.aggregator.slow_ns == NEVER_NS  # paused: spans are not held any more
        [alert] = r.delivered()
        assert alert.trace_id == trace_ids[-1]  # the busy drain itself still gave examples
        r.tick(seconds=0.5)
        assert r.aggregator.slow_ns == NEVER_NS
        r.tick(seconds=0.6)
        assert r.aggregator.slow_ns == 100_000_000


class TestSeveralWatchers:
    def test_on_slow_and_budget_examples_share_the_ring(self, rigs: list[Rig]) -> None:
        """Each watcher gets the spans over its own threshold; adding one replaces none."""
        r = rig(rigs, "GET /a p95<100ms")
        calls: list[tuple[str, float, str]] = []
        called = threading.Event()

        def on_slow(name: str, duration_ms: float, trace_id: str) -> None:
            calls.append((name, duration_ms, trace_id))
            called.set()

        watch = SlowSpanWatch(slow_ms=500, very_slow_ms=None, on_slow=on_slow, clock=r.clock)
        r.aggregator.watch_slow(watch.threshold_ns, watch)
        try:
            assert r.aggregator.slow_ns == 100_000_000
            slow = r.spans("GET /a", 300)
            assert called.wait(0.2) is False  # 300 ms is under slow_ms
            very = r.spans("GET /a", 600, count=1)
            assert called.wait(5)
            [alert] = r.delivered()
            assert alert.trace_id == slow[-1]
            assert calls == [("GET /a", 600.0, very[0])]
        finally:
            watch.shutdown()

    def test_pausing_one_watcher_keeps_the_other(self, rigs: list[Rig]) -> None:
        """retune_slow changes one watcher's threshold; the ring threshold follows the lowest."""
        r = rig(rigs, "GET /a p95<100ms")
        watch = SlowSpanWatch(slow_ms=500, very_slow_ms=None, on_slow=None, clock=r.clock)
        r.aggregator.watch_slow(watch.threshold_ns, watch)
        r.aggregator.retune_slow(r.monitor._note_slow, NEVER_NS)
        assert r.aggregator.slow_ns == 500_000_000
        r.aggregator.retune_slow(r.monitor._note_slow, 100_000_000)
        assert r.aggregator.slow_ns == 100_000_000

    def test_the_key_of_a_span_includes_key_attributes(self) -> None:
        """operation_key files a span as the store does (name + key attributes)."""
        aggregator = Aggregator(key_attributes=["tenant"], interval_s=3600)
        try:
            from otelperf.testing import capture_spans

            with capture_spans() as captured:
                captured.tracer.start_span("GET /a", attributes={"tenant": "acme"}).end()
            [span] = captured.exporter.get_finished_spans()
            assert aggregator.operation_key(span) == "GET /a {tenant=acme}"
        finally:
            aggregator.shutdown()


def wait_for(predicate: Callable[[], object], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


@pytest.mark.usefixtures("fresh_globals")
class TestThroughConfigure:
    @pytest.mark.parametrize(("sample_ratio", "linked"), [(1.0, True), (0.0, False)])
    def test_configured_alerts_link_an_exported_trace(
        self, sample_ratio: float, linked: bool
    ) -> None:
        """configure(): a breach alert names a slow exported trace; unexported ones never."""
        alerts: list[Alert] = []
        handle = otelperf.configure(
            exporters="none",
            window_s=6,
            budgets="GET /checkout p95<50ms",
            regression_factor="off",
            sample_ratio=sample_ratio,
            alerts=[alerts.append],
        )
        assert handle.tracer_provider is not None
        tracer = handle.tracer_provider.get_tracer("app")
        trace_ids = set()
        for _ in range(30):
            now_ns = time.time_ns()
            span = tracer.start_span("GET /checkout", start_time=now_ns - 200_000_000)
            span.end(end_time=now_ns)
            trace_ids.add(format(span.get_span_context().trace_id, "032x"))
        assert wait_for(lambda: alerts, 3.0), "no alert within 3 s"
        assert alerts[0].severity.value == "critical"
        if linked:
            assert alerts[0].trace_id in trace_ids
        else:
            assert alerts[0].trace_id is None

"""End to end through the real SDK: a latency shift breaks a budget and a webhook hears of it."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import pytest
from opentelemetry.trace import Tracer

import otelperf
from otelperf.alerts import Alert
from tests.alerts.hook_server import HookServer

pytestmark = pytest.mark.usefixtures("fresh_globals")

BUDGET = "GET /checkout p95<50ms"


@pytest.fixture
def server() -> Iterator[HookServer]:
    hook = HookServer()
    yield hook
    hook.close()


def end_spans(tracer: Tracer, name: str, duration_ms: float, count: int) -> list[float]:
    """End ``count`` spans lasting ``duration_ms`` (set by timestamps); return each call's cost."""
    costs = []
    for _ in range(count):
        began = time.perf_counter()
        now_ns = time.time_ns()
        span = tracer.start_span(name, start_time=now_ns - round(duration_ms * 1e6))
        span.end(end_time=now_ns)
        costs.append(time.perf_counter() - began)
    return costs


def wait_for(predicate: object, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.01)
    return False


class TestBudgetAlertsEndToEnd:
    def test_webhook_posts_within_2s_while_bad_sinks_fail_or_hang(self, server: HookServer) -> None:
        """A p95 shift past the budget reaches the webhook in < 2 s; bad sinks delay nobody."""
        release = threading.Event()
        raised: list[Alert] = []
        hung: list[Alert] = []

        def raising_sink(alert: Alert) -> None:
            raised.append(alert)
            raise RuntimeError("pager down")

        def hanging_sink(alert: Alert) -> None:
            hung.append(alert)
            release.wait(30)

        handle = otelperf.configure(
            service_name="shop",
            exporters="none",
            window_s=6,
            budgets=BUDGET,
            regression_factor="off",
            alerts=[raising_sink, hanging_sink, f"webhook:{server.url()}"],
        )
        assert handle.tracer_provider is not None
        tracer = handle.tracer_provider.get_tracer("app")
        try:
            baseline = end_spans(tracer, "GET /checkout", 10, 200)
            time.sleep(0.3)  # a few aggregator ticks: healthy traffic alerts nobody
            assert server.received == [] and raised == [] and hung == []

            shifted = end_spans(tracer, "GET /checkout", 200, 200)
            crossed_at = time.monotonic()  # the window's p95 is now 200 ms: 4x the budget
            assert wait_for(lambda: server.received, 2.0), "no webhook within 2 s"
            assert server.received[0].at_s - crossed_at < 2.0

            payload = json.loads(server.received[0].body)
            assert {k: payload[k] for k in ("kind", "severity", "operation", "budget")} == {
                "kind": "budget",
                "severity": "critical",
                "operation": "GET /checkout",
                "budget": BUDGET,
            }
            assert (payload["service"], payload["threshold"], payload["unit"]) == ("shop", 50, "ms")
            assert payload["actual"] == pytest.approx(200, rel=0.01)
            assert payload["window_s"] == 6.0
            assert payload["resource"]["service.name"] == "shop"
            # The other two sinks got the same alert, and one of them is still stuck in it.
            assert wait_for(lambda: raised and hung, 1.0)
            assert raised[0].fingerprint == hung[0].fingerprint

            during_hang = end_spans(tracer, "GET /checkout", 200, 2000)
            # The hanging sink blocks for 30 s and the webhook does network I/O: a span end that
            # waited on either would show. Bounds are loose so a loaded CI machine passes.
            assert max(baseline + shifted + during_hang) < 0.5
            assert sum(during_hang) / len(during_hang) < 0.001

            began = time.monotonic()
            assert otelperf.shutdown(timeout_s=5)  # bounded although a sink still hangs
            assert time.monotonic() - began < 4.0
        finally:
            release.set()

    def test_budget_report_through_configure(self) -> None:
        """otelperf.budget_report() shows each budget's state once the aggregator has ticked."""
        assert otelperf.budget_report() == []
        handle = otelperf.configure(
            exporters="none", budgets=f"{BUDGET}; GET /nowhere p99<1s", alerts="none"
        )
        assert handle.alerts is None and handle.budgets is not None
        assert handle.tracer_provider is not None
        end_spans(handle.tracer_provider.get_tracer("app"), "GET /checkout", 80, 50)

        def states() -> list[tuple[str, str]]:
            return [(s.operation, s.state) for s in otelperf.budget_report()]

        assert wait_for(
            lambda: states() == [("GET /checkout", "error"), ("GET /nowhere", "insufficient_data")],
            2.0,
        ), states()
        [checkout, _] = otelperf.budget_report()
        assert checkout.actual_ms == pytest.approx(80, rel=0.01)

    def test_no_budgets_and_no_regressions_installs_no_monitor(self) -> None:
        """With nothing to judge, no tick hook and no alert threads are installed."""
        handle = otelperf.configure(
            exporters="none",
            regression_factor="off",
            memory_interval_s="off",
            span_leak_after_s="off",
        )
        assert (handle.budgets, handle.alerts) == (None, None)
        assert otelperf.budget_report() == []

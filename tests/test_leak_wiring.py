"""configure() wires leak detection: memory metrics over OTLP, span-leak alerts, off switches."""

from __future__ import annotations

import threading
import time

import pytest
from opentelemetry import trace

import otelperf
from otelperf._receiver import OTLPReceiver
from otelperf.alerts import Alert

pytestmark = pytest.mark.usefixtures("fresh_globals")


def otlp_env(monkeypatch: pytest.MonkeyPatch, receiver: OTLPReceiver) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.grpc_endpoint)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    monkeypatch.setenv("OTEL_METRIC_EXPORT_INTERVAL", "200")


class TestMemory:
    def test_memory_metrics_reach_the_receiver_with_semconv_names_and_units(
        self, monkeypatch: pytest.MonkeyPatch, otlp_receiver: OTLPReceiver
    ) -> None:
        """process.memory.* (By), growth rate (By/h) and leak.suspected (0/1) are exported."""
        otlp_env(monkeypatch, otlp_receiver)
        handle = otelperf.configure(memory_interval_s=0.2)
        assert handle.memory is not None
        wanted = {
            "process.memory.usage": "By",
            "process.memory.virtual": "By",
            "otelperf.memory.growth_rate": "By/h",
            "otelperf.leak.suspected": "",
        }
        assert otlp_receiver.wait_for(
            lambda: set(wanted) <= {p.name for p in otlp_receiver.metrics()}, timeout_s=10
        )
        points = {p.name: p for p in otlp_receiver.metrics() if p.name in wanted}
        assert {name: p.unit for name, p in points.items()} == wanted
        usage = points["process.memory.usage"].value
        assert usage is not None and usage > 10 * 2**20  # a Python process: > 10 MiB
        assert points["otelperf.leak.suspected"].value == 0

    def test_memory_interval_off_starts_no_memory_thread(self) -> None:
        """memory_interval_s=off: no otelperf-memory thread, no monitor on the handle."""
        before = set(threading.enumerate())
        handle = otelperf.configure(exporters="none", memory_interval_s="off")
        assert handle.memory is None
        started = set(threading.enumerate()) - before
        assert "otelperf-memory" not in {t.name for t in started}

    def test_shutdown_stops_the_memory_thread(self) -> None:
        """otelperf.shutdown() ends the otelperf-memory thread."""
        before = set(threading.enumerate())
        otelperf.configure(exporters="none", memory_interval_s=0.1)
        [memory] = [t for t in set(threading.enumerate()) - before if t.name == "otelperf-memory"]
        assert otelperf.shutdown()
        assert not memory.is_alive()


class TestSpanLeaks:
    def test_span_left_open_by_a_dead_thread_is_alerted_and_counted(
        self, monkeypatch: pytest.MonkeyPatch, otlp_receiver: OTLPReceiver
    ) -> None:
        """A span started in a thread that dies without ending it: alert + unfinished metric."""
        otlp_env(monkeypatch, otlp_receiver)
        alerts: list[Alert] = []
        otelperf.configure(span_leak_after_s=0.5, alerts=[alerts.append])
        tracer = trace.get_tracer("test")

        def forget() -> None:
            tracer.start_span("orphan.job")  # never ended

        worker = threading.Thread(target=forget)
        worker.start()
        worker.join()
        with tracer.start_as_current_span("ended.fine"):
            pass
        deadline = time.monotonic() + 10
        while not alerts and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [a.kind for a in alerts] == ["span_leak"]
        alert = alerts[0]
        assert alert.severity == "warning"
        assert alert.detail is not None and "orphan.job" in alert.detail
        assert "ended.fine" not in alert.detail
        assert alert.actual >= 0.5
        assert otlp_receiver.wait_for(
            lambda: any(
                p.name == "otelperf.spans.unfinished"
                and p.attributes.get("span.name") == "orphan.job"
                and p.value == 1
                for p in otlp_receiver.metrics()
            ),
            timeout_s=10,
        )

    def test_span_leak_after_off_adds_no_processor(self) -> None:
        """span_leak_after_s=off: no span-leak processor on the handle."""
        handle = otelperf.configure(exporters="none", span_leak_after_s="off")
        assert handle.span_leaks is None

"""configure() wires leak detection: memory metrics over OTLP, span-leak alerts, off switches."""

from __future__ import annotations

import logging
import threading
import time
import tracemalloc

import pytest
from opentelemetry import trace

import otelperf
from otelperf._errors import ConfigError
from otelperf._receiver import OTLPReceiver
from otelperf._settings import resolve
from otelperf._wiring import leaks as wiring_leaks
from otelperf._wiring.leaks import deep_every_for
from otelperf.alerts import Alert
from otelperf.processors.leaks import MemoryMonitor

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


class TestLeakSettings:
    @pytest.mark.parametrize(
        ("window_s", "interval_s", "every"),
        [(3600.0, 10.0, 6), (10.0, 0.1, 2), (86400.0, 10.0, 144), (3600.0, 120.0, 1)],
    )
    def test_deep_profiles_come_about_60_times_per_window(
        self, window_s: float, interval_s: float, every: int
    ) -> None:
        """deep_every_for spaces profiles leak_window_s / 60 apart, at least one tick."""
        settings = resolve({"leak_window_s": window_s, "memory_interval_s": interval_s}, {})
        assert deep_every_for(settings) == every

    def test_window_too_short_for_the_interval_is_a_config_error(self) -> None:
        """A window holding fewer than 30 samples is refused, naming both settings."""
        with pytest.raises(ConfigError) as raised:
            otelperf.configure(exporters="none", memory_interval_s=10, leak_window_s=60)
        message = str(raised.value)
        assert message.startswith(
            "configure(leak_window_s=60): expected at least 30 x memory_interval_s = 300 s "
            "(memory_interval_s is 10, from configure(memory_interval_s=...))"
        )
        assert "otelperf-memory" not in {t.name for t in threading.enumerate()}

    def test_short_window_is_fine_when_memory_sampling_is_off(self) -> None:
        """With memory_interval_s=off the window is not checked (nothing samples)."""
        handle = otelperf.configure(exporters="none", memory_interval_s="off", leak_window_s=10)
        assert handle.memory is None


class TestFailures:
    def test_monitor_that_cannot_start_is_logged_and_left_out(
        self, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
    ) -> None:
        """configure() still returns (spans tracked) when the memory thread cannot start."""
        monkeypatch.setenv("OTELPERF_RAISE_INTERNAL_ERRORS", "0")

        def no_threads(**kwargs: object) -> MemoryMonitor:
            raise RuntimeError("can't start new thread")

        monkeypatch.setattr(wiring_leaks, "MemoryMonitor", no_threads)
        with caplog.at_level(logging.ERROR, logger="otelperf"):
            handle = otelperf.configure(exporters="none", memory_interval_s=1)
        assert handle.memory is None
        assert handle.span_leaks is not None
        assert any("memory monitoring could not start" in r.getMessage() for r in caplog.records)

    def test_deep_mode_traces_allocations_until_shutdown(self) -> None:
        """leak_deep=true starts tracemalloc with the monitor and stops it at shutdown."""
        if tracemalloc.is_tracing():
            pytest.skip("tracemalloc already on (python -X tracemalloc)")
        handle = otelperf.configure(exporters="none", memory_interval_s=0.1, leak_deep=True)
        assert handle.memory is not None
        assert tracemalloc.is_tracing()
        assert otelperf.shutdown()
        assert not tracemalloc.is_tracing()

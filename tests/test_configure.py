"""configure()/shutdown(): install, attach, idempotence, bounded shutdown, disabled SDK."""

from __future__ import annotations

import logging
import socket
import time

import pytest
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import otelperf
from otelperf import ConfigError

pytestmark = pytest.mark.usefixtures("fresh_globals")


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


class TestInstall:
    def test_installs_global_sdk_providers(self) -> None:
        """configure() installs an SDK TracerProvider and MeterProvider globally."""
        handle = otelperf.configure(exporters="none")
        assert trace.get_tracer_provider() is handle.tracer_provider
        assert isinstance(handle.tracer_provider, TracerProvider)
        assert metrics.get_meter_provider() is handle.meter_provider
        assert not handle.attached

    def test_resource_has_service_name_and_otel_resource_attributes(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The resource carries service_name and OTEL_RESOURCE_ATTRIBUTES."""
        monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=test,team=perf")
        handle = otelperf.configure(service_name="shop", exporters="none")
        assert handle.tracer_provider is not None
        attributes = handle.tracer_provider.resource.attributes
        assert attributes["service.name"] == "shop"
        assert attributes["deployment.environment"] == "test"
        assert attributes["team"] == "perf"

    @pytest.mark.parametrize(
        ("given", "environ", "description"),
        [
            ({}, {}, "ParentBased{root:AlwaysOnSampler"),
            ({"sample_ratio": 0.1}, {}, "ParentBased{root:TraceIdRatioBased{0.1}"),
            (
                {},
                {"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.2"},
                "TraceIdRatioBased{0.2}",
            ),
            ({}, {"OTEL_TRACES_SAMPLER": "parentbased_always_off"}, "ParentBased{root:AlwaysOff"),
        ],
    )
    def test_head_sampler_from_sample_ratio_or_otel_traces_sampler(
        self,
        monkeypatch: pytest.MonkeyPatch,
        given: dict[str, object],
        environ: dict[str, str],
        description: str,
    ) -> None:
        """sample_ratio wins; otherwise OTEL_TRACES_SAMPLER picks the head sampler."""
        for name, value in environ.items():
            monkeypatch.setenv(name, value)
        handle = otelperf.configure(exporters="none", **given)
        assert handle.tracer_provider is not None
        # otelperf wraps the head sampler so unsampled spans are still measured.
        wrapped = f"MeasureAll{{all,{description}"
        assert handle.tracer_provider.sampler.get_description().startswith(wrapped)

    def test_second_configure_warns_and_returns_the_same_handle(self) -> None:
        """A second configure() emits RuntimeWarning and returns the first handle."""
        first = otelperf.configure(exporters="none")
        with pytest.warns(RuntimeWarning, match="already called"):
            second = otelperf.configure(service_name="other")
        assert second is first

    def test_bad_setting_installs_nothing(self) -> None:
        """A ConfigError leaves the global providers untouched."""
        with pytest.raises(ConfigError):
            otelperf.configure(sample_ratio=2)
        assert not isinstance(trace.get_tracer_provider(), TracerProvider)
        assert otelperf._configure.current() is None

    @pytest.mark.parametrize(
        ("environ", "message"),
        [
            (
                {"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"},
                "OTEL_EXPORTER_OTLP_PROTOCOL='http/json': expected one of grpc, http/protobuf",
            ),
            ({"OTEL_TRACES_SAMPLER": "sometimes"}, "OTEL_TRACES_SAMPLER='sometimes': expected"),
        ],
    )
    def test_bad_standard_variable_raises_config_error(
        self, monkeypatch: pytest.MonkeyPatch, environ: dict[str, str], message: str
    ) -> None:
        """Invalid standard OTEL_* values are reported with their variable name."""
        for name, value in environ.items():
            monkeypatch.setenv(name, value)
        with pytest.raises(ConfigError, match=message):
            otelperf.configure()

    def test_sdk_disabled_installs_nothing(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """OTEL_SDK_DISABLED=true: configure() returns a handle and installs no provider."""
        monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
        handle = otelperf.configure()
        assert handle.tracer_provider is None
        assert not isinstance(trace.get_tracer_provider(), TracerProvider)
        assert handle.shutdown()


class TestAttach:
    def test_attaches_to_an_existing_sdk_provider_and_says_what_it_kept(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """With an SDK provider already installed, otelperf attaches and logs one INFO line."""
        exporter = InMemorySpanExporter()
        theirs = TracerProvider(shutdown_on_exit=False)
        theirs.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(theirs)
        with caplog.at_level(logging.INFO, logger="otelperf"):
            handle = otelperf.configure(exporters="none", sample_ratio=0.5)
        assert handle.attached
        assert handle.tracer_provider is theirs
        lines = [r.getMessage() for r in caplog.records if r.name == "otelperf"]
        assert len(lines) == 1
        assert "kept its sampler (ParentBased{root:AlwaysOnSampler" in lines[0]
        trace.get_tracer("t").start_span("still-works").end()
        assert [s.name for s in exporter.get_finished_spans()] == ["still-works"]
        theirs.shutdown()

    def test_keeps_an_existing_meter_provider(self) -> None:
        """An SDK MeterProvider already installed stays the global one."""
        theirs = MeterProvider(shutdown_on_exit=False)
        metrics.set_meter_provider(theirs)
        handle = otelperf.configure(exporters="none")
        assert metrics.get_meter_provider() is theirs
        assert handle.meter_provider is not theirs
        theirs.shutdown()


class TestShutdown:
    def test_shutdown_twice_is_harmless(self) -> None:
        """shutdown() is idempotent and returns True both times."""
        otelperf.configure(exporters="none")
        assert otelperf.shutdown()
        assert otelperf.shutdown()

    def test_shutdown_before_configure_is_a_no_op(self) -> None:
        """shutdown() without configure() does nothing and returns True."""
        assert otelperf.shutdown()

    @pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
    def test_dead_endpoint_neither_raises_nor_hangs(
        self, monkeypatch: pytest.MonkeyPatch, protocol: str
    ) -> None:
        """Exporting to a closed port: spans end normally and shutdown respects its timeout."""
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", protocol)
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{closed_port()}")
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "30")
        otelperf.configure(service_name="dead")
        tracer = trace.get_tracer("t")
        for i in range(50):
            with tracer.start_as_current_span(f"op-{i % 3}"):
                pass
        started = time.monotonic()
        otelperf.shutdown(timeout_s=2.0)
        assert time.monotonic() - started < 3.0

    def test_shutdown_is_short_once_an_export_has_failed(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """After a failed export the final flush gets FAILING_SHUTDOWN_TIMEOUT_S, not 5 s."""
        from otelperf._configure import FAILING_SHUTDOWN_TIMEOUT_S

        monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{closed_port()}")
        monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
        handle = otelperf.configure(service_name="dead", memory_interval_s="off")
        tracer = trace.get_tracer("t")
        [counting] = [e for e in handle._exporters if hasattr(e, "drops")]
        deadline = time.monotonic() + 10
        while counting.last_ok and time.monotonic() < deadline:  # type: ignore[attr-defined]
            with tracer.start_as_current_span("op"):
                pass
            time.sleep(0.05)
        assert not counting.last_ok  # type: ignore[attr-defined]
        with tracer.start_as_current_span("queued"):
            pass
        started = time.monotonic()
        otelperf.shutdown()  # default 5 s budget
        assert time.monotonic() - started < FAILING_SHUTDOWN_TIMEOUT_S + 0.5

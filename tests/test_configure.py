"""configure()/shutdown(): install, attach, idempotence, bounded shutdown, disabled SDK."""

from __future__ import annotations

import logging
import socket
import threading
import time

import pytest
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import otelperf
from otelperf import ConfigError, _safety
from otelperf._receiver import OTLPReceiver
from otelperf._wiring.otlp_env import check_otlp_environment
from otelperf.budgets import INTERACTIVE_BUDGETS

pytestmark = pytest.mark.usefixtures("fresh_globals")


@pytest.fixture(autouse=True)
def fresh_log_limits() -> None:
    """otelperf's logger drops a repeat for a minute: each test starts with none remembered."""
    _safety._rate_limit._last_ns.clear()


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
        assert isinstance(handle.tracer_provider, TracerProvider)
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
        handle = otelperf.configure(exporters="none", **given)  # type: ignore[arg-type]
        assert isinstance(handle.tracer_provider, TracerProvider)
        # otelperf wraps the head sampler so unsampled spans are still measured.
        wrapped = f"MeasureAll{{all,{description}"
        assert handle.tracer_provider.sampler.get_description().startswith(wrapped)

    def test_second_configure_warns_and_returns_the_same_handle(self) -> None:
        """A second configure() emits RuntimeWarning and returns the first handle."""
        first = otelperf.configure(exporters="none")
        with pytest.warns(RuntimeWarning, match="already called"):
            second = otelperf.configure(service_name="other")
        assert second is first

    def test_second_configure_names_the_settings_it_ignores_not_their_values(self) -> None:
        """The warning names each differing setting (budgets, alerts...) but no value."""
        otelperf.configure(exporters="none", alerts="webhook:http://127.0.0.1:9/a?token=FIRST")
        with pytest.warns(RuntimeWarning) as caught:
            otelperf.configure(
                exporters="none",
                budgets="GET /checkout p99<250ms",
                alerts="webhook:http://127.0.0.1:9/b?token=SECOND",
                sample_ratio=0.5,
            )
        [message] = [str(w.message) for w in caught]
        assert message.endswith(
            "these settings differ from the active ones and are NOT applied: "
            "alerts, budgets, sample_ratio"
        )
        assert "SECOND" not in message and "checkout" not in message

    def test_second_configure_with_the_active_settings_names_nothing(self) -> None:
        """Settings equal to the active ones, or not given, are not listed as ignored."""
        otelperf.configure(exporters="none", budgets="interactive", service_name="shop")
        with pytest.warns(RuntimeWarning) as caught:
            otelperf.configure(exporters=["none"], budgets=INTERACTIVE_BUDGETS)
        [message] = [str(w.message) for w in caught]
        assert "already called" in message and "differ" not in message

    def test_second_configure_with_a_bad_setting_raises_config_error(self) -> None:
        """A bad keyword in a second call is refused like in a first one."""
        first = otelperf.configure(exporters="none")
        with pytest.raises(ConfigError, match=r"configure\(sample_ratio=2\)"):
            otelperf.configure(sample_ratio=2)
        assert otelperf._configure.current() is first

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


class TestOtlpEnvironment:
    """Bad standard OTLP exporter variables: a ConfigError naming the variable, not a traceback."""

    @pytest.mark.parametrize(
        ("environ", "message"),
        [
            (
                {"OTEL_EXPORTER_OTLP_TIMEOUT": "never"},
                "OTEL_EXPORTER_OTLP_TIMEOUT='never': expected a number of seconds > 0",
            ),
            (
                {"OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": ""},
                "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT='': expected a number of seconds > 0",
            ),
            (
                {"OTEL_EXPORTER_OTLP_METRICS_TIMEOUT": "-1"},
                "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT='-1': expected a number of seconds > 0",
            ),
            (
                {"OTEL_EXPORTER_OTLP_COMPRESSION": "zip"},
                "OTEL_EXPORTER_OTLP_COMPRESSION='zip': expected gzip or none (gRPC)",
            ),
            (
                {"OTEL_EXPORTER_OTLP_METRICS_COMPRESSION": "deflate"},
                "OTEL_EXPORTER_OTLP_METRICS_COMPRESSION='deflate': expected gzip or none (gRPC)",
            ),
            (
                {
                    "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
                    "OTEL_EXPORTER_OTLP_COMPRESSION": "zip",
                },
                "OTEL_EXPORTER_OTLP_COMPRESSION='zip': expected gzip, deflate or none",
            ),
            (
                {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://[::1"},
                "OTEL_EXPORTER_OTLP_ENDPOINT='http://[::1': expected a URL such as",
            ),
            (
                {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:99999"},
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT='http://collector:99999': expected a URL",
            ),
            (
                {"OTEL_EXPORTER_OTLP_CERTIFICATE": "/"},
                "OTEL_EXPORTER_OTLP_CERTIFICATE='/': expected a readable PEM file",
            ),
            (
                {"OTEL_PYTHON_EXPORTER_OTLP_GRPC_RETRYABLE_ERROR_CODES": "UNAVAILABLE,SOMETIMES"},
                "OTEL_PYTHON_EXPORTER_OTLP_GRPC_RETRYABLE_ERROR_CODES='UNAVAILABLE,SOMETIMES': "
                "SOMETIMES is not a gRPC status code",
            ),
            (
                {"OTEL_PYTHON_EXPORTER_OTLP_GRPC_CREDENTIAL_PROVIDER": "vault"},
                "OTEL_PYTHON_EXPORTER_OTLP_GRPC_CREDENTIAL_PROVIDER='vault': expected the name of",
            ),
        ],
    )
    def test_configure_refuses_what_the_sdk_exporters_would_choke_on(
        self, monkeypatch: pytest.MonkeyPatch, environ: dict[str, str], message: str
    ) -> None:
        """Each value the SDK's exporter constructors raise for is a ConfigError naming it."""
        for name, value in environ.items():
            monkeypatch.setenv(name, value)
        before = _aggregator_threads()
        with pytest.raises(ConfigError) as raised:
            otelperf.configure()
        assert str(raised.value).startswith(message)
        assert not isinstance(trace.get_tracer_provider(), TracerProvider)
        assert _aggregator_threads() <= before  # nothing started

    @pytest.mark.parametrize(
        "environ",
        [
            {"OTEL_EXPORTER_OTLP_TIMEOUT": " 2.5 ", "OTEL_EXPORTER_OTLP_COMPRESSION": "GZIP"},
            # The per-signal variables win: the general ones are never read by the exporters.
            {
                "OTEL_EXPORTER_OTLP_TIMEOUT": "never",
                "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "3",
                "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT": "3",
            },
            # HTTP reads an empty value as unset and knows deflate and none.
            {
                "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
                "OTEL_EXPORTER_OTLP_TIMEOUT": "",
                "OTEL_EXPORTER_OTLP_COMPRESSION": "deflate",
                "OTEL_EXPORTER_OTLP_METRICS_COMPRESSION": "none",
            },
        ],
    )
    def test_values_the_exporters_accept_pass(self, environ: dict[str, str]) -> None:
        """Valid values (and a bad general one that a per-signal one overrides) pass."""
        check_otlp_environment(("otlp",), ("otlp",), environ)

    def test_only_the_transports_in_use_are_checked(self) -> None:
        """No OTLP exporter (console, none): the OTLP variables are not read, so not refused."""
        check_otlp_environment(("console",), (), {"OTEL_EXPORTER_OTLP_TIMEOUT": "never"})

    def test_an_unknown_protocol_is_left_to_the_exporter_loader(self) -> None:
        """An unknown protocol is reported by its own message, not as a timeout problem."""
        environ = {"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json", "OTEL_EXPORTER_OTLP_TIMEOUT": "x"}
        check_otlp_environment(("otlp",), ("otlp",), environ)


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

    def test_one_info_line_names_the_given_settings_it_could_not_apply(
        self, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Attached: one INFO line, naming sample_ratio, service_name and tail_sampling=on."""
        monkeypatch.setenv("OTELPERF_SERVICE_NAME", "shop")
        theirs = TracerProvider(shutdown_on_exit=False)
        trace.set_tracer_provider(theirs)
        with caplog.at_level(logging.INFO, logger="otelperf"):
            otelperf.configure(exporters="none", sample_ratio=0.5, tail_sampling="on")
        [line] = [r.getMessage() for r in caplog.records if r.name == "otelperf"]
        assert line.endswith(
            "; not applied: sample_ratio from configure(sample_ratio=...) (the sampler is "
            "theirs), service_name from OTELPERF_SERVICE_NAME (the resource is theirs), "
            "exporters from configure(exporters=...) (applied to otelperf's metrics only; spans "
            "keep their exporters), tail_sampling=on (the span exporters are not otelperf's to "
            "wrap)"
        )
        theirs.shutdown()

    @pytest.mark.parametrize(("variable", "built"), [("none", 0), ("console", 1)])
    def test_attached_metrics_follow_otel_metrics_exporter(
        self,
        monkeypatch: pytest.MonkeyPatch,
        capfd: pytest.CaptureFixture[str],
        variable: str,
        built: int,
    ) -> None:
        """Attached, with exporters unset: OTEL_METRICS_EXPORTER picks the metric exporters."""
        monkeypatch.setenv("OTEL_METRICS_EXPORTER", variable)
        theirs = TracerProvider(shutdown_on_exit=False)
        trace.set_tracer_provider(theirs)
        handle = otelperf.configure(memory_interval_s="off")
        assert handle.attached
        assert len(handle._exporters) == built
        assert handle.shutdown()
        # The console exporter prints otelperf's metrics at the final export; none prints nothing.
        assert ('"otelperf.dropped"' in capfd.readouterr().out) == (variable == "console")
        theirs.shutdown()

    def test_keeps_an_existing_meter_provider(self) -> None:
        """An SDK MeterProvider already installed stays the global one."""
        theirs = MeterProvider(shutdown_on_exit=False)
        metrics.set_meter_provider(theirs)
        handle = otelperf.configure(exporters="none")
        assert metrics.get_meter_provider() is theirs
        assert handle.meter_provider is not theirs
        theirs.shutdown()


class _LogfireLikeProxy(trace.TracerProvider):
    """Shaped like Logfire's ProxyTracerProvider: an API provider wrapping an SDK one.

    It forwards ``get_tracer`` and ``add_span_processor`` and shows a ``resource``; it has no
    ``sampler`` and is not an SDK ``TracerProvider``.
    """

    def __init__(self, inner: TracerProvider) -> None:
        self.inner = inner

    def get_tracer(self, *args: object, **kwargs: object) -> trace.Tracer:
        return self.inner.get_tracer(*args, **kwargs)  # type: ignore[arg-type]

    def add_span_processor(self, span_processor: object) -> None:
        self.inner.add_span_processor(span_processor)  # type: ignore[arg-type]

    @property
    def resource(self) -> object:
        return self.inner.resource


class _ApiOnlyMeterProvider(metrics.MeterProvider):
    """A meter provider of the API only (like Logfire's ProxyMeterProvider): no readers."""

    def get_meter(self, *args: object, **kwargs: object) -> metrics.Meter:
        return metrics.NoOpMeterProvider().get_meter("x")


class TestBesideOtherProviders:
    def test_attaches_to_a_proxy_provider_like_logfires(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A non-SDK provider with add_span_processor: attached, and stats() sees its spans."""
        exporter = InMemorySpanExporter()
        inner = TracerProvider(shutdown_on_exit=False)
        inner.add_span_processor(SimpleSpanProcessor(exporter))
        proxy = _LogfireLikeProxy(inner)
        trace.set_tracer_provider(proxy)
        with caplog.at_level(logging.INFO, logger="otelperf"):
            handle = otelperf.configure(exporters="none", memory_interval_s="off")
        assert handle.attached and handle.tracer_provider is proxy
        assert trace.get_tracer_provider() is proxy
        for _ in range(3):
            trace.get_tracer("t").start_span("GET /proxied").end()
        assert handle.aggregator is not None
        handle.aggregator.flush()
        assert otelperf.stats("GET /proxied") is not None
        assert otelperf.stats("GET /proxied").count == 3  # type: ignore[union-attr]
        assert len(exporter.get_finished_spans()) == 3  # their pipeline still exports
        [line] = [r.getMessage() for r in caplog.records if r.name == "otelperf"]
        assert "_LogfireLikeProxy); kept its sampler (not visible to otelperf" in line
        inner.shutdown()

    def test_a_provider_that_takes_no_processors_is_one_warning_and_an_inactive_handle(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A NoOpTracerProvider installed first: WARNING 'not active', nothing built, no raise."""
        theirs = trace.NoOpTracerProvider()
        trace.set_tracer_provider(theirs)
        with caplog.at_level(logging.INFO):
            handle = otelperf.configure()
        assert handle.tracer_provider is None and handle.aggregator is None
        assert trace.get_tracer_provider() is theirs
        warned = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert [r.name for r in warned] == ["otelperf"]
        assert (
            warned[0]
            .getMessage()
            .startswith(
                "otelperf is not active (it measures nothing): the global TracerProvider is a "
                "opentelemetry.trace.NoOpTracerProvider, installed before otelperf, which takes no "
                "span processors"
            )
        )
        assert otelperf.stats() == {}

    def test_losing_the_race_for_the_global_provider_is_a_warning(
        self, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Another provider set between the check and ours: WARNING, and what was built stops."""
        original = trace.set_tracer_provider
        winner = trace.NoOpTracerProvider()

        def racing(provider: trace.TracerProvider) -> None:
            original(winner)  # another thread got there first
            original(provider)

        monkeypatch.setattr(trace, "set_tracer_provider", racing)
        before = _aggregator_threads()
        with caplog.at_level(logging.WARNING, logger="otelperf"):
            handle = otelperf.configure(exporters="none")
        assert handle.tracer_provider is None
        assert trace.get_tracer_provider() is winner
        [line] = [r.getMessage() for r in caplog.records if r.name == "otelperf"]
        assert "another TracerProvider (opentelemetry.trace.NoOpTracerProvider) became" in line
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and not _aggregator_threads() <= before:
            time.sleep(0.05)
        assert _aggregator_threads() <= before  # what it built was shut down

    def test_a_meter_provider_of_another_kind_stays_global_without_an_override_warning(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A non-SDK MeterProvider installed first stays global; ours stays private, quietly."""
        theirs = _ApiOnlyMeterProvider()
        metrics.set_meter_provider(theirs)
        with caplog.at_level(logging.INFO):
            handle = otelperf.configure(exporters="none")
        assert metrics.get_meter_provider() is theirs
        assert isinstance(handle.meter_provider, MeterProvider)
        assert not [r for r in caplog.records if "Overriding" in r.getMessage()]
        assert any(
            "_ApiOnlyMeterProvider) is already installed" in r.getMessage() for r in caplog.records
        )


class TestShutdown:
    def test_shutdown_twice_is_harmless(self) -> None:
        """shutdown() is idempotent and returns True both times."""
        otelperf.configure(exporters="none")
        assert otelperf.shutdown()
        assert otelperf.shutdown()

    def test_a_second_shutdown_returns_the_first_result(self) -> None:
        """The first shutdown timed out: a second one says False too, not True."""
        handle = otelperf.configure(exporters="none", memory_interval_s="off")
        release = threading.Event()
        handle._closers.insert(0, release.wait)
        assert handle.shutdown(timeout_s=0.2) is False
        assert handle.shutdown(timeout_s=0.2) is False
        release.set()

    def test_concurrent_shutdowns_run_the_closers_once_and_agree(self) -> None:
        """Two threads shutting down at once: the closers run once, both get the same result."""
        handle = otelperf.configure(exporters="none", memory_interval_s="off")
        calls: list[int] = []

        def slow_closer() -> None:
            calls.append(1)
            time.sleep(0.2)

        handle._closers.insert(0, slow_closer)
        results: list[bool] = []
        threads = [
            threading.Thread(target=lambda: results.append(handle.shutdown(timeout_s=3)))
            for _ in range(2)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(5)
        assert results == [True, True]
        assert calls == [1]

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


class TestGrpcCompression:
    @pytest.mark.parametrize("compression", ["none", "gzip", "NONE", " "])
    def test_the_specifications_values_reach_the_receiver(
        self, monkeypatch: pytest.MonkeyPatch, otlp_receiver: OTLPReceiver, compression: str
    ) -> None:
        """gzip and none (which the SDK's gRPC exporters refuse from the variable) both work."""
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", otlp_receiver.grpc_endpoint)
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_INSECURE", "true")
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", compression)
        otelperf.configure(exporters="otlp")
        with otelperf.track("compressed"):
            pass
        assert otelperf.shutdown()
        assert otlp_receiver.wait_for_spans(1)
        assert [span.name for span in otlp_receiver.spans()] == ["compressed"]


def _aggregator_threads() -> set[threading.Thread]:
    """The live ``otelperf-aggregator`` threads (other tests' may exist: compare sets)."""
    return {t for t in threading.enumerate() if t.name == "otelperf-aggregator"}

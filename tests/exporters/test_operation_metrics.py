"""otelperf.operation.duration reaches a real OTLP receiver as ExponentialHistogram points."""

from __future__ import annotations

import time
from typing import TypeVar

import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
from opentelemetry.metrics import Observation
from opentelemetry.sdk.metrics import Histogram, MeterProvider
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    ExponentialHistogram,
    MetricExporter,
    MetricExportResult,
    MetricsData,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

import otelperf
from otelperf import _exporters
from otelperf._exporters import MadeMetricExporter
from otelperf._receiver import MetricPoint, OTLPReceiver
from otelperf.aggregates import ExpBuckets
from otelperf.exporters.datadog import DatadogMetricExporter
from otelperf.exporters.newrelic import NewRelicMetricExporter
from otelperf.exporters.operation_metrics import OperationMetricsExporter
from otelperf.processors.aggregator import Aggregator
from otelperf.processors.latency import LatencyProcessor

E = TypeVar("E", bound=MetricExporter)
DELTA, CUMULATIVE = AggregationTemporality.DELTA, AggregationTemporality.CUMULATIVE

pytestmark = pytest.mark.usefixtures("fresh_globals")


def as_buckets(point: MetricPoint) -> ExpBuckets:
    return ExpBuckets(
        scale=point.scale,  # type: ignore[arg-type]
        offset=point.positive_offset,  # type: ignore[arg-type]
        counts=tuple(point.positive_bucket_counts),
        zero_count=point.zero_count,  # type: ignore[arg-type]
        count=point.count,  # type: ignore[arg-type]
        sum=point.sum,  # type: ignore[arg-type]
        min=point.min,
        max=point.max,
    )


def emit(n: int) -> None:
    tracer = trace.get_tracer("t")
    for i in range(n):
        span = tracer.start_span("GET /users/{id}", kind=trace.SpanKind.SERVER, start_time=0)
        span.end(end_time=(1 + i % 200) * 1_000_000)


class TestOperationDuration:
    @pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
    def test_points_arrive_and_match_stats(
        self, monkeypatch: pytest.MonkeyPatch, otlp_receiver: OTLPReceiver, protocol: str
    ) -> None:
        """The exported histogram is the same data stats() reads: count and p99 agree."""
        endpoint = (
            otlp_receiver.grpc_endpoint if protocol == "grpc" else otlp_receiver.http_endpoint
        )
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", protocol)
        monkeypatch.setenv("OTEL_METRIC_EXPORT_INTERVAL", "300")
        otelperf.configure(service_name="metrics-test", sample_ratio=0.01)
        emit(4000)
        assert otlp_receiver.wait_for(
            lambda: any(
                p.count == 4000 for p in otlp_receiver.metrics(name="otelperf.operation.duration")
            ),
            timeout_s=10,
        )
        point = next(
            p for p in otlp_receiver.metrics(name="otelperf.operation.duration") if p.count == 4000
        )
        assert point.type == "exponential_histogram"
        assert point.unit == "s"
        assert point.attributes == {"operation": "GET /users/{id}", "span.kind": "server"}
        assert point.scale is not None and point.scale >= 6
        assert point.resource_attributes["service.name"] == "metrics-test"
        stats = otelperf.stats("GET /users/{id}")
        assert stats is not None and stats.count == 4000
        received_p99_ms = as_buckets(point).quantile(0.99) * 1000
        assert received_p99_ms == pytest.approx(stats.p99_ms, rel=1e-9)
        # Only ~1 % of the spans were exported, yet the histogram counts all of them.
        assert len(otlp_receiver.spans()) < 200

    def test_delta_temporality_sends_only_new_values(
        self, monkeypatch: pytest.MonkeyPatch, otlp_receiver: OTLPReceiver
    ) -> None:
        """With the delta preference, consecutive points sum to the total, none repeats it."""
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", otlp_receiver.grpc_endpoint)
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "delta")
        monkeypatch.setenv("OTEL_METRIC_EXPORT_INTERVAL", "200")
        otelperf.configure(exporters="otlp")
        emit(300)
        time.sleep(0.6)
        emit(200)
        otelperf.shutdown()
        points = otlp_receiver.metrics(name="otelperf.operation.duration")
        assert {p.temporality for p in points} == {"delta"}
        assert sum(p.count or 0 for p in points) == 500
        assert all((p.min or 0) > 0 for p in points)

    def test_dropped_counter_is_exported(
        self, monkeypatch: pytest.MonkeyPatch, otlp_receiver: OTLPReceiver
    ) -> None:
        """otelperf.dropped{reason} is exported, including operations folded by the cap."""
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", otlp_receiver.grpc_endpoint)
        otelperf.configure(max_operations=2)
        tracer = trace.get_tracer("t")
        for i in range(5):
            tracer.start_span(f"op{i}").end()
        time.sleep(0.3)
        otelperf.shutdown()
        folded = [
            p.value
            for p in otlp_receiver.metrics(name="otelperf.dropped")
            if p.attributes.get("reason") == "max_operations"
        ]
        assert folded and folded[-1] == 3


def wrapped_pipeline(
    inner: MetricExporter | MadeMetricExporter,
) -> tuple[Aggregator, TracerProvider, MeterProvider, OperationMetricsExporter]:
    """configure()'s metric path by hand: spans -> store -> wrapper(inner) -> SDK reader."""
    aggregator = Aggregator(interval_s=3600)
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(LatencyProcessor(aggregator))
    made = inner if isinstance(inner, MadeMetricExporter) else MadeMetricExporter(inner, None, None)
    wrapper = OperationMetricsExporter(
        made.exporter,
        aggregator,
        resource=Resource.create({}),
        preferred_temporality=made.temporality,
        preferred_aggregation=made.aggregation,
    )
    reader = PeriodicExportingMetricReader(wrapper, export_interval_millis=3_600_000)
    meters = MeterProvider(metric_readers=[reader], shutdown_on_exit=False)
    # The SDK reader exports nothing while no instrument has data: give it one, as configure().
    meters.get_meter("otelperf").create_observable_counter(
        "otelperf.dropped", callbacks=[lambda options: [Observation(0, {"reason": "x"})]]
    )
    return aggregator, provider, meters, wrapper


def emit_to(provider: TracerProvider, n: int) -> None:
    tracer = provider.get_tracer("t")
    for i in range(n):
        span = tracer.start_span("GET /a", kind=trace.SpanKind.SERVER, start_time=0)
        span.end(end_time=(1 + i % 50) * 1_000_000)


def export_twice(inner: MadeMetricExporter, first: int, second: int) -> None:
    """Emit ``first`` spans, export, emit ``second`` more, export, shut down."""
    aggregator, provider, meters, _ = wrapped_pipeline(inner)
    try:
        for n in (first, second):
            emit_to(provider, n)
            aggregator.flush()
            assert meters.force_flush()
    finally:
        meters.shutdown()
        provider.shutdown()


class TestTemporalityFollowsTheWrappedExporter:
    def test_an_otlp_exporter_preferring_delta_gets_delta_points(
        self, monkeypatch: pytest.MonkeyPatch, otlp_receiver: OTLPReceiver
    ) -> None:
        """The OTLP exporter configure() builds for a delta preference gets delta points."""
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", otlp_receiver.grpc_endpoint)
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_INSECURE", "true")
        environ = {"OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": "delta"}
        [inner] = _exporters.metric_exporters(("otlp",), environ)
        export_twice(inner, 300, 200)
        points = otlp_receiver.metrics(name="otelperf.operation.duration")
        assert [(p.temporality, p.count) for p in points] == [("delta", 300), ("delta", 200)]

    def test_the_env_variable_does_not_override_an_exporters_own_choice(
        self, monkeypatch: pytest.MonkeyPatch, otlp_receiver: OTLPReceiver
    ) -> None:
        """A wrapper given cumulative stays cumulative under a delta env var (as the SDK)."""
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "delta")
        inner = MadeMetricExporter(
            OTLPMetricExporter(endpoint=otlp_receiver.grpc_endpoint, insecure=True),
            {Histogram: CUMULATIVE},
            None,
        )
        export_twice(inner, 30, 20)
        points = otlp_receiver.metrics(name="otelperf.operation.duration")
        # (shutdown exports once more: cumulative repeats the total)
        assert [(p.temporality, p.count) for p in points][:2] == [
            ("cumulative", 30),
            ("cumulative", 50),
        ]
        assert {p.temporality for p in points} == {"cumulative"}

    @pytest.mark.parametrize("vendor", ["datadog", "newrelic"])
    def test_vendor_exporters_preferring_delta_get_delta_points(self, vendor: str) -> None:
        """Datadog's and New Relic's metric exporters prefer delta: they receive delta points."""
        environ = {
            "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": "cumulative",
            "DD_API_KEY": "k",
            "NEW_RELIC_LICENSE_KEY": "k",
        }
        inner = (
            capturing(DatadogMetricExporter)(host="http://127.0.0.1:9", environ=environ)
            if vendor == "datadog"
            else capturing(NewRelicMetricExporter)(environ=environ)
        )
        self._check_two_exports(inner, "delta", [30, 20])

    def test_no_preference_means_the_sdk_defaults(self) -> None:
        """An exporter that states no preference gets the SDK reader's default: cumulative."""
        from opentelemetry.sdk.metrics.export import ConsoleMetricExporter

        self._check_two_exports(capturing(ConsoleMetricExporter)(), "cumulative", [30, 50])

    @staticmethod
    def _check_two_exports(inner: MetricExporter, temporality: str, counts: list[int]) -> None:
        aggregator, provider, meters, _ = wrapped_pipeline(inner)
        try:
            for n in (30, 20):
                emit_to(provider, n)
                aggregator.flush()
                assert meters.force_flush()
        finally:
            provider.shutdown()
        seen: list[MetricsData] = inner.seen  # type: ignore[attr-defined]
        points = [
            (metric.data.aggregation_temporality, point.count)
            for data in seen
            for rm in data.resource_metrics
            for sm in rm.scope_metrics
            for metric in sm.metrics
            if isinstance(metric.data, ExponentialHistogram)
            for point in metric.data.data_points
        ]
        expected = DELTA if temporality == "delta" else CUMULATIVE
        assert points == [(expected, count) for count in counts]
        meters.shutdown()


def capturing(base: type[E]) -> type[E]:
    """A subclass of ``base`` that keeps what it is asked to export instead of sending it."""

    class Capturing(base):  # type: ignore[valid-type,misc]
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)
            self.seen: list[MetricsData] = []

        def export(
            self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: object
        ) -> MetricExportResult:
            self.seen.append(metrics_data)
            return MetricExportResult.SUCCESS

    return Capturing


class TestWideSpread:
    def test_six_decades_arrive_at_scale_six_as_valid_points(
        self, otlp_receiver: OTLPReceiver
    ) -> None:
        """200 µs / 50 ms / 5-30 s spans arrive as one scale-6 point (<= 2048 buckets) = stats."""
        inner = OTLPMetricExporter(endpoint=otlp_receiver.grpc_endpoint, insecure=True)
        aggregator, provider, meters, _ = wrapped_pipeline(inner)
        tracer = provider.get_tracer("t")
        durations_us = [200] * 900 + [50_000] * 99 + [5_000_000, 30_000_000]
        try:
            for i, duration_us in enumerate(durations_us):
                start = 1_000_000 + i
                span = tracer.start_span("GET /mix", start_time=start)
                span.end(end_time=start + duration_us * 1_000 + i)
            aggregator.flush()
            stats = aggregator.stats("GET /mix")
            assert meters.force_flush()
        finally:
            meters.shutdown()
            provider.shutdown()
        point = otlp_receiver.metrics(name="otelperf.operation.duration")[0]
        assert point.type == "exponential_histogram" and point.scale == 6
        assert 0 < len(point.positive_bucket_counts) <= 2048
        received = as_buckets(point)  # validates count == sum(buckets) + zeros
        assert stats is not None and received.count == stats.count == 1001
        assert received.quantile(0.999) * 1000 == pytest.approx(stats.p999_ms, rel=1e-12)
        assert received.quantile(0.5) * 1000 == pytest.approx(0.2, rel=0.0055)


class TestOtlpPreferences:
    @pytest.mark.parametrize(
        ("choice", "histogram"),
        [
            ("", CUMULATIVE),
            ("delta", DELTA),
            ("lowmemory", DELTA),
            ("bogus", CUMULATIVE),
        ],
    )
    def test_histogram_temporality_follows_the_standard_variable(
        self, choice: str, histogram: AggregationTemporality
    ) -> None:
        """OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE maps as the OTLP spec says."""
        temporality, _ = _exporters.otlp_metric_preferences(
            {"OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": choice}
        )
        assert temporality[Histogram] is histogram

    def test_configure_builds_the_otlp_exporter_from_the_given_environ(self) -> None:
        """The environ mapping (not only os.environ) reaches the OTLP exporter's preferences."""
        environ = {
            "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": "delta",
            "OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION": (
                "base2_exponential_bucket_histogram"
            ),
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9",
        }
        [(inner, temporality, aggregation)] = _exporters.metric_exporters(("otlp",), environ)
        assert temporality is not None and temporality[Histogram] is DELTA
        assert aggregation is not None
        assert isinstance(aggregation[Histogram], ExponentialBucketHistogramAggregation)
        inner.shutdown()

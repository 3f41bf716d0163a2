"""otelperf.operation.duration reaches a real OTLP receiver as ExponentialHistogram points."""

from __future__ import annotations

import time

import pytest
from opentelemetry import trace
from opentelemetry.sdk.metrics.export import AggregationTemporality

import otelperf
from otelperf._receiver import MetricPoint, OTLPReceiver
from otelperf.aggregates import ExpBuckets
from otelperf.exporters.operation_metrics import preferences_from_env

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


class TestPreferences:
    @pytest.mark.parametrize(
        ("choice", "histogram"),
        [
            ("", AggregationTemporality.CUMULATIVE),
            ("delta", AggregationTemporality.DELTA),
            ("lowmemory", AggregationTemporality.DELTA),
        ],
    )
    def test_histogram_temporality_follows_the_standard_variable(
        self, choice: str, histogram: AggregationTemporality
    ) -> None:
        """OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE maps as the OTLP spec says."""
        from opentelemetry.sdk.metrics import Histogram

        temporality, _ = preferences_from_env(
            {"OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": choice}
        )
        assert temporality[Histogram] is histogram

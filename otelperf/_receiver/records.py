"""Flat, frozen records decoded from OTLP export requests.

The functions here are pure: they turn one decoded protobuf request into tuples of records and
touch no locks, sockets or clocks, so the transports can call them before taking the store lock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Literal, TypeAlias

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    AggregationTemporality,
    ExponentialHistogramDataPoint,
    HistogramDataPoint,
    Metric,
    NumberDataPoint,
    ScopeMetrics,
    SummaryDataPoint,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

__all__ = [
    "AttributeValue",
    "MetricPoint",
    "MetricType",
    "SpanRecord",
    "Temporality",
    "Transport",
    "decode_attributes",
    "metric_points",
    "span_records",
]

Transport = Literal["grpc", "http"]
MetricType = Literal["sum", "gauge", "histogram", "exponential_histogram", "summary"]
Temporality = Literal["delta", "cumulative", "unspecified"]
AttributeValue: TypeAlias = (
    "str | bool | int | float | bytes "
    "| tuple[AttributeValue, ...] | Mapping[str, AttributeValue] | None"
)
"""An OTLP ``AnyValue`` as Python: arrays become tuples, key-value lists read-only mappings."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SpanRecord:
    """One received span, flattened together with its resource and scope.

    Ids are lower-case hex (``trace_id`` 32 characters, span ids 16); ``parent_span_id`` is
    ``""`` for a root span. ``kind`` and ``status_code`` are the OTLP enum names without their
    prefix (``"SERVER"``, ``"ERROR"``).
    """

    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    kind: str
    start_unix_ns: int
    end_unix_ns: int
    status_code: str
    status_message: str
    attributes: Mapping[str, AttributeValue]
    resource_attributes: Mapping[str, AttributeValue]
    scope_name: str
    scope_version: str
    event_names: tuple[str, ...]
    transport: Transport

    @property
    def duration_ns(self) -> int:
        """End minus start time, in nanoseconds."""
        return self.end_unix_ns - self.start_unix_ns


@dataclass(frozen=True, slots=True, kw_only=True)
class MetricPoint:
    """One received metric data point, flattened together with its metric, resource and scope.

    Fields that do not apply to ``type`` keep their default (``None`` or ``()``):

    * ``sum``/``gauge``: ``value`` (``is_monotonic`` and ``temporality`` for sums only).
    * ``histogram``: ``count``, ``sum``, ``min``, ``max``, ``bucket_counts``,
      ``explicit_bounds``, ``temporality``.
    * ``exponential_histogram``: ``count``, ``sum``, ``min``, ``max``, ``scale``,
      ``zero_count``, ``positive_offset``/``positive_bucket_counts``,
      ``negative_offset``/``negative_bucket_counts``, ``temporality``.
    * ``summary``: ``count``, ``sum``, ``quantiles`` as ``(quantile, value)`` pairs.

    ``sum``, ``min`` and ``max`` are ``None`` when the sender left these optional fields out.
    """

    name: str
    description: str
    unit: str
    type: MetricType
    attributes: Mapping[str, AttributeValue]
    resource_attributes: Mapping[str, AttributeValue]
    scope_name: str
    transport: Transport
    start_unix_ns: int
    time_unix_ns: int
    temporality: Temporality | None = None
    is_monotonic: bool | None = None
    value: int | float | None = None
    count: int | None = None
    sum: float | None = None
    min: float | None = None
    max: float | None = None
    bucket_counts: tuple[int, ...] = ()
    explicit_bounds: tuple[float, ...] = ()
    scale: int | None = None
    zero_count: int | None = None
    positive_offset: int | None = None
    positive_bucket_counts: tuple[int, ...] = ()
    negative_offset: int | None = None
    negative_bucket_counts: tuple[int, ...] = ()
    quantiles: tuple[tuple[float, float], ...] = ()


def _any_value(value: AnyValue) -> AttributeValue:
    which = value.WhichOneof("value")
    if which == "string_value":
        return value.string_value
    if which == "bool_value":
        return value.bool_value
    if which == "int_value":
        return value.int_value
    if which == "double_value":
        return value.double_value
    if which == "bytes_value":
        return value.bytes_value
    if which == "array_value":
        return tuple(_any_value(item) for item in value.array_value.values)
    if which == "kvlist_value":
        return decode_attributes(value.kvlist_value.values)
    return None


def decode_attributes(key_values: Iterable[KeyValue]) -> Mapping[str, AttributeValue]:
    """Convert OTLP key-value pairs to a read-only mapping (a later duplicate key wins)."""
    return MappingProxyType({kv.key: _any_value(kv.value) for kv in key_values})


def span_records(
    request: ExportTraceServiceRequest, *, transport: Transport
) -> tuple[SpanRecord, ...]:
    """Flatten every span of a trace export request, in request order."""
    records: list[SpanRecord] = []
    for resource_spans in request.resource_spans:
        resource_attributes = decode_attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                kind: str = Span.SpanKind.Name(span.kind)  # e.g. "SPAN_KIND_SERVER"
                status: str = Status.StatusCode.Name(span.status.code)
                records.append(
                    SpanRecord(
                        name=span.name,
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_span_id=span.parent_span_id.hex(),
                        kind=kind.removeprefix("SPAN_KIND_"),
                        start_unix_ns=span.start_time_unix_nano,
                        end_unix_ns=span.end_time_unix_nano,
                        status_code=status.removeprefix("STATUS_CODE_"),
                        status_message=span.status.message,
                        attributes=decode_attributes(span.attributes),
                        resource_attributes=resource_attributes,
                        scope_name=scope_spans.scope.name,
                        scope_version=scope_spans.scope.version,
                        event_names=tuple(event.name for event in span.events),
                        transport=transport,
                    )
                )
    return tuple(records)


_TEMPORALITIES: Mapping[int, Temporality] = {
    AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA: "delta",
    AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE: "cumulative",
}


def _temporality(value: int) -> Temporality:
    return _TEMPORALITIES.get(value, "unspecified")


def _base_point(
    metric: Metric,
    scope_metrics: ScopeMetrics,
    resource: Mapping[str, AttributeValue],
    point: _AnyPoint,
    *,
    metric_type: MetricType,
    transport: Transport,
) -> MetricPoint:
    return MetricPoint(
        name=metric.name,
        description=metric.description,
        unit=metric.unit,
        type=metric_type,
        attributes=decode_attributes(point.attributes),
        resource_attributes=resource,
        scope_name=scope_metrics.scope.name,
        transport=transport,
        start_unix_ns=point.start_time_unix_nano,
        time_unix_ns=point.time_unix_nano,
    )


def _number_value(point: NumberDataPoint) -> int | float:
    return point.as_int if point.WhichOneof("value") == "as_int" else point.as_double


def _with_values(base: MetricPoint, metric: Metric, point: _AnyPoint) -> MetricPoint:
    """Fill in the type-specific fields of ``base`` from ``point`` of ``metric``."""
    if isinstance(point, NumberDataPoint):
        if base.type == "gauge":
            return replace(base, value=_number_value(point))
        return replace(
            base,
            value=_number_value(point),
            temporality=_temporality(metric.sum.aggregation_temporality),
            is_monotonic=metric.sum.is_monotonic,
        )
    if isinstance(point, HistogramDataPoint):
        return replace(
            base,
            temporality=_temporality(metric.histogram.aggregation_temporality),
            count=point.count,
            sum=point.sum if point.HasField("sum") else None,
            min=point.min if point.HasField("min") else None,
            max=point.max if point.HasField("max") else None,
            bucket_counts=tuple(point.bucket_counts),
            explicit_bounds=tuple(point.explicit_bounds),
        )
    if isinstance(point, ExponentialHistogramDataPoint):
        return replace(
            base,
            temporality=_temporality(metric.exponential_histogram.aggregation_temporality),
            count=point.count,
            sum=point.sum if point.HasField("sum") else None,
            min=point.min if point.HasField("min") else None,
            max=point.max if point.HasField("max") else None,
            scale=point.scale,
            zero_count=point.zero_count,
            positive_offset=point.positive.offset,
            positive_bucket_counts=tuple(point.positive.bucket_counts),
            negative_offset=point.negative.offset,
            negative_bucket_counts=tuple(point.negative.bucket_counts),
        )
    return replace(
        base,
        count=point.count,
        sum=point.sum,
        quantiles=tuple((q.quantile, q.value) for q in point.quantile_values),
    )


def _data_points(metric: Metric) -> tuple[MetricType, Sequence[_AnyPoint]]:
    which = metric.WhichOneof("data")
    if which == "sum":
        return "sum", metric.sum.data_points
    if which == "gauge":
        return "gauge", metric.gauge.data_points
    if which == "histogram":
        return "histogram", metric.histogram.data_points
    if which == "exponential_histogram":
        return "exponential_histogram", metric.exponential_histogram.data_points
    if which == "summary":
        return "summary", metric.summary.data_points
    return "gauge", ()  # a metric with no data has no points


def metric_points(
    request: ExportMetricsServiceRequest, *, transport: Transport
) -> tuple[MetricPoint, ...]:
    """Flatten every data point of a metrics export request, in request order."""
    points: list[MetricPoint] = []
    for resource_metrics in request.resource_metrics:
        resource = decode_attributes(resource_metrics.resource.attributes)
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                metric_type, data_points = _data_points(metric)
                for point in data_points:
                    base = _base_point(
                        metric,
                        scope_metrics,
                        resource,
                        point,
                        metric_type=metric_type,
                        transport=transport,
                    )
                    points.append(_with_values(base, metric, point))
    return tuple(points)


_AnyPoint: TypeAlias = (
    "NumberDataPoint | HistogramDataPoint | ExponentialHistogramDataPoint | SummaryDataPoint"
)

"""Pure mapping from OTel spans and metrics, and otelperf alerts, to New Relic's APIs.

* Spans — Trace API, ``newrelic`` format: ``id``, ``trace.id``, ``timestamp`` (ms) and
  attributes with ``name``, ``duration.ms``, ``parent.id``, ``span.kind``, ``service.name``;
  error status becomes ``error: true`` plus ``otel.status_code``/``otel.status_description``.
  Resource attributes go to the batch's ``common.attributes``.
* Metrics — Metric API: monotonic sums become ``count`` (delta, with ``interval.ms``), gauges and
  non-monotonic sums ``gauge``, histograms ``summary`` (count, sum, min, max). Exponential
  histograms (``otelperf.operation.duration``) also get ``<name>.percentiles`` gauges with a
  ``percentile`` attribute (50, 90, 95, 99, 99.9), New Relic's own convention for OTLP summary
  quantiles, estimated as ``otelperf.stats()`` does.
* Alerts — Event API: one flat ``OtelperfAlert`` event per alert.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Gauge,
    HistogramDataPoint,
    Metric,
    MetricsData,
    NumberDataPoint,
    Sum,
)
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode, format_span_id, format_trace_id

from otelperf.alerts import Alert
from otelperf.exporters._histograms import QUANTILES, DeltaState, attribute_key, point_buckets

__all__ = ["EVENT_TYPE", "Batch", "to_newrelic_event", "to_newrelic_metrics", "to_newrelic_spans"]

EVENT_TYPE = "OtelperfAlert"
"""``eventType`` of alert events (``SELECT * FROM OtelperfAlert``)."""

Batch = tuple[dict[str, Any], list[dict[str, Any]]]
"""``(common, items)``: one ``send_batch`` call's arguments."""

_MAX_STRING = 4095  # New Relic truncates attribute strings at 4096 bytes
_KINDS = {
    SpanKind.SERVER: "server",
    SpanKind.CLIENT: "client",
    SpanKind.PRODUCER: "producer",
    SpanKind.CONSUMER: "consumer",
    SpanKind.INTERNAL: "internal",
}


def attributes(values: Mapping[str, Any] | None) -> dict[str, Any]:
    """OTel attributes as New Relic attribute values (scalars; sequences joined as text)."""
    found: dict[str, Any] = {}
    for key, value in (values or {}).items():
        if isinstance(value, str):
            found[key] = value[:_MAX_STRING]
        elif isinstance(value, (bool, int)) or (isinstance(value, float) and math.isfinite(value)):
            found[key] = value
        elif isinstance(value, (list, tuple)):
            found[key] = ",".join(str(v) for v in value)[:_MAX_STRING]
    return found


def to_newrelic_spans(spans: Sequence[ReadableSpan]) -> list[Batch]:
    """Group spans by resource into Trace API batches (``common`` holds the resource)."""
    batches: dict[Any, Batch] = {}
    for span in spans:
        context = span.context
        if context is None or span.start_time is None or span.end_time is None:
            continue
        resource = dict(span.resource.attributes) if span.resource else {}
        key = attribute_key(resource)
        if key not in batches:
            batches[key] = ({"attributes": attributes(resource)}, [])
        attrs = attributes(span.attributes)
        attrs["name"] = span.name
        attrs["duration.ms"] = (span.end_time - span.start_time) / 1e6
        attrs["span.kind"] = _KINDS.get(span.kind, "internal")
        if span.parent is not None and span.parent.span_id:
            attrs["parent.id"] = format_span_id(span.parent.span_id)
        if span.status.status_code is StatusCode.ERROR:
            attrs["error"] = True
            attrs["otel.status_code"] = "ERROR"
            if span.status.description:
                attrs["otel.status_description"] = span.status.description[:_MAX_STRING]
        elif span.status.status_code is StatusCode.OK:
            attrs["otel.status_code"] = "OK"
        scope = span.instrumentation_scope
        if scope is not None:
            attrs["otel.library.name"] = scope.name
            if scope.version:
                attrs["otel.library.version"] = scope.version
        batches[key][1].append(
            {
                "id": format_span_id(context.span_id),
                "trace.id": format_trace_id(context.trace_id),
                "timestamp": span.start_time // 1_000_000,
                "attributes": attrs,
            }
        )
    return list(batches.values())


def to_newrelic_metrics(data: MetricsData, *, deltas: DeltaState) -> list[Batch]:
    """Map one export's metrics to Metric API batches, one per resource.

    Cumulative sums and histograms are turned into deltas with ``deltas`` (mutated): New Relic
    counts and summaries describe an interval. Points with no data are left out.
    """
    batches: list[Batch] = []
    for resource_metrics in data.resource_metrics:
        resource = dict(resource_metrics.resource.attributes)
        items: list[dict[str, Any]] = []
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                items.extend(_metric_items(metric, attribute_key(resource), deltas))
        if items:
            batches.append(({"attributes": attributes(resource)}, items))
    return batches


def _metric_items(metric: Metric, resource_key: Any, deltas: DeltaState) -> list[dict[str, Any]]:
    data = metric.data
    cumulative = getattr(data, "aggregation_temporality", None) is (
        AggregationTemporality.CUMULATIVE
    )
    items: list[dict[str, Any]] = []
    for point in data.data_points:
        attrs = attributes(point.attributes)
        key = (metric.name, resource_key, attribute_key(point.attributes))
        end_ms = point.time_unix_nano // 1_000_000
        if isinstance(point, NumberDataPoint) and (
            isinstance(data, Gauge) or (isinstance(data, Sum) and not data.is_monotonic)
        ):
            items.append(_gauge(metric.name, float(point.value), end_ms, attrs))
        elif isinstance(point, NumberDataPoint):
            value, start_ns = float(point.value), point.start_time_unix_nano
            if cumulative:
                value, start_ns = deltas.sum_delta(key, start_ns, point.time_unix_nano, value)
            items.append(_interval(metric.name, "count", value, start_ns, end_ms, attrs))
        elif isinstance(point, HistogramDataPoint):
            count, total, start_ns = point.count, float(point.sum), point.start_time_unix_nano
            if cumulative:
                sum_key = (f"{metric.name}.sum", key[1], key[2])
                total, _ = deltas.sum_delta(sum_key, start_ns, point.time_unix_nano, total)
                counted, start_ns = deltas.sum_delta(key, start_ns, point.time_unix_nano, count)
                count = int(counted)
            if count:
                # Cumulative min/max cover the whole run: still true bounds of the interval.
                summary = {"count": count, "sum": total, "min": point.min, "max": point.max}
                items.append(_interval(metric.name, "summary", summary, start_ns, end_ms, attrs))
        else:
            buckets, start_ns = point_buckets(point), point.start_time_unix_nano
            if cumulative:
                buckets, start_ns = deltas.histogram_delta(
                    key, start_ns, point.time_unix_nano, buckets
                )
            if not buckets.count:
                continue
            low, *middle, high = buckets.quantiles((0.0, *QUANTILES, 1.0))
            summary = {"count": buckets.count, "sum": buckets.sum, "min": low, "max": high}
            items.append(_interval(metric.name, "summary", summary, start_ns, end_ms, attrs))
            for q, value in zip(QUANTILES, middle, strict=True):
                percentile = {**attrs, "percentile": round(q * 100, 6)}
                items.append(_gauge(f"{metric.name}.percentiles", value, end_ms, percentile))
    return [item for item in items if _finite(item["value"])]


def _gauge(name: str, value: float, end_ms: int, attrs: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "value": value, "timestamp": end_ms, "attributes": attrs}


def _interval(
    name: str, kind: str, value: object, start_ns: int, end_ms: int, attrs: dict[str, Any]
) -> dict[str, Any]:
    start_ms = start_ns // 1_000_000
    return {
        "name": name,
        "type": kind,
        "value": value,
        "timestamp": start_ms,
        "interval.ms": max(1, end_ms - start_ms),
        "attributes": attrs,
    }


def _finite(value: object) -> bool:
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    return isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))


def to_newrelic_event(alert: Alert) -> dict[str, Any]:
    """Map an alert to one flat Event API event (``eventType`` :data:`EVENT_TYPE`).

    Resource attributes come first so the alert's own fields win on a name clash; fields that
    are None are left out (the Event API drops nulls anyway).
    """
    record = alert.to_dict()
    event: dict[str, Any] = attributes(alert.resource)
    for key in (
        "kind",
        "severity",
        "operation",
        "statistic",
        "budget",
        "actual",
        "threshold",
        "unit",
        "ratio",
        "detail",
        "title",
        "message",
        "fingerprint",
    ):
        if record[key] is not None:
            event[key] = record[key]
    event["service.name"] = alert.service
    event["window.s"] = float(alert.window_s)
    if alert.trace_id:
        event["trace.id"] = alert.trace_id
    event = attributes(event)
    event["eventType"] = EVENT_TYPE
    event["timestamp"] = alert.timestamp_ns // 1_000_000
    return event

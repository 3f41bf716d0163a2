"""Pure mapping from OTel metrics and otelperf alerts to Datadog's intake JSON.

Series follow Datadog's own mapping of OpenTelemetry data (the Datadog exporter and Agent OTLP
ingest): monotonic sums become ``count`` series of the delta, gauges and non-monotonic sums
``gauge`` series, histograms ``<name>.count``/``.sum`` counts and ``.min``/``.max`` gauges,
and quantiles a ``<name>.quantile`` gauge tagged ``quantile:<q>`` (the summary convention). For
``otelperf.operation.duration`` the quantiles are p50, p90, p95, p99 and p99.9 of the interval's
exponential buckets, estimated exactly as ``otelperf.stats()`` does.

Resource attributes give the unified service tags (``service``, ``env``, ``version``) and the
host; point attributes become ``key:value`` tags. Values keep the OTel unit (seconds for
durations, DESIGN §4).
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Mapping
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

from otelperf.alerts import Alert, AlertSeverity
from otelperf.exporters._histograms import QUANTILES, DeltaState, attribute_key, point_buckets

__all__ = ["COUNT", "GAUGE", "RATE", "to_datadog_event", "to_datadog_series"]

COUNT, RATE, GAUGE = 1, 2, 3
"""Datadog v2 series types on the wire (``MetricIntakeType``)."""

_MAX_TAG = 200  # Datadog truncates tags at 200 characters
_UNITS = {"s": "second", "ms": "millisecond", "us": "microsecond", "ns": "nanosecond"}
_UNITS |= {"By": "byte", "KiBy": "kibibyte", "MiBy": "mebibyte", "GiBy": "gibibyte", "%": "percent"}
_RESOURCE_TAGS = (
    ("service.name", "service"),
    ("deployment.environment.name", "env"),
    ("deployment.environment", "env"),
    ("service.version", "version"),
)
_STATUS = {"warning": "warn", "error": "error", "critical": "error", "resolved": "ok"}
_PRIORITY = {"warning": "3", "error": "2", "critical": "1", "resolved": "5"}


def tag(key: str, value: object) -> str:
    """``key:value`` as a Datadog tag (lists joined with ``,``; at most 200 characters)."""
    if isinstance(value, (list, tuple)):
        value = ",".join(str(v) for v in value)
    return f"{key}:{value}"[:_MAX_TAG]


def resource_tags(attributes: Mapping[str, Any]) -> tuple[list[str], str | None]:
    """Unified service tags and the host name from resource attributes."""
    tags, seen = [], set()
    for attribute, name in _RESOURCE_TAGS:
        value = attributes.get(attribute)
        if value not in (None, "") and name not in seen:
            seen.add(name)
            tags.append(tag(name, value))
    host = attributes.get("host.name")
    return tags, str(host) if host else None


def to_datadog_series(
    data: MetricsData, *, deltas: DeltaState, extra_tags: tuple[str, ...] = ()
) -> list[dict[str, Any]]:
    """Map one export's metrics to Datadog v2 ``/api/v2/series`` items (plain JSON dicts).

    Args:
        data: What the SDK's metric reader hands the exporter.
        deltas: The exporter's cumulative-to-delta state (mutated).
        extra_tags: Tags added to every series (e.g. from ``DD_TAGS``).

    Returns:
        Series in the wire shape: ``metric``, ``type`` (1 count, 3 gauge), ``points``
        (``timestamp`` in whole seconds, ``value``), ``tags``, and ``interval``, ``unit``,
        ``resources`` where they apply. Points with no data in the interval are left out.
    """
    series: list[dict[str, Any]] = []
    for resource_metrics in data.resource_metrics:
        attrs = dict(resource_metrics.resource.attributes)
        base_tags, host = resource_tags(attrs)
        base = _Base(tuple(base_tags) + extra_tags, host, attribute_key(attrs))
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                series.extend(_metric_series(metric, base, deltas))
    return series


class _Base:
    __slots__ = ("host", "resource_key", "tags")

    def __init__(self, tags: tuple[str, ...], host: str | None, resource_key: Any) -> None:
        self.tags, self.host, self.resource_key = tags, host, resource_key


def _metric_series(metric: Metric, base: _Base, deltas: DeltaState) -> list[dict[str, Any]]:
    data = metric.data
    unit = _UNITS.get(metric.unit or "")
    cumulative = getattr(data, "aggregation_temporality", None) is (
        AggregationTemporality.CUMULATIVE
    )
    found: list[dict[str, Any]] = []
    for point in data.data_points:
        out = _Point(found, base, point.time_unix_nano, point.attributes)
        key = (metric.name, base.resource_key, attribute_key(point.attributes))
        if isinstance(point, NumberDataPoint) and (
            isinstance(data, Gauge) or (isinstance(data, Sum) and not data.is_monotonic)
        ):
            out.add(metric.name, GAUGE, float(point.value), unit=unit)
        elif isinstance(point, NumberDataPoint):
            value, start_ns = float(point.value), point.start_time_unix_nano
            if cumulative:
                value, start_ns = deltas.sum_delta(key, start_ns, point.time_unix_nano, value)
            out.add(metric.name, COUNT, value, out.interval_s(start_ns), unit=unit)
        elif isinstance(point, HistogramDataPoint):
            count, total = float(point.count), float(point.sum)
            start_ns = point.start_time_unix_nano
            if cumulative:
                sum_key = (f"{metric.name}.sum", key[1], key[2])
                total, _ = deltas.sum_delta(sum_key, start_ns, point.time_unix_nano, total)
                count, start_ns = deltas.sum_delta(key, start_ns, point.time_unix_nano, count)
            out.add(f"{metric.name}.count", COUNT, count, out.interval_s(start_ns))
            out.add(f"{metric.name}.sum", COUNT, total, out.interval_s(start_ns), unit=unit)
            if point.count and not cumulative:  # a cumulative min/max says nothing of the interval
                out.add(f"{metric.name}.min", GAUGE, float(point.min), unit=unit)
                out.add(f"{metric.name}.max", GAUGE, float(point.max), unit=unit)
        else:
            buckets, start_ns = point_buckets(point), point.start_time_unix_nano
            if cumulative:
                buckets, start_ns = deltas.histogram_delta(
                    key, start_ns, point.time_unix_nano, buckets
                )
            out.add(f"{metric.name}.count", COUNT, float(buckets.count), out.interval_s(start_ns))
            out.add(f"{metric.name}.sum", COUNT, buckets.sum, out.interval_s(start_ns), unit=unit)
            if not buckets.count:
                continue
            low, *middle, high = buckets.quantiles((0.0, *QUANTILES, 1.0))
            out.add(f"{metric.name}.min", GAUGE, low, unit=unit)
            out.add(f"{metric.name}.max", GAUGE, high, unit=unit)
            for q, value in zip(QUANTILES, middle, strict=True):
                out.add(
                    f"{metric.name}.quantile", GAUGE, value, unit=unit, tags=(f"quantile:{q:g}",)
                )
    return found


class _Point:
    """Appends the series of one data point to ``found``."""

    def __init__(
        self, found: list[dict[str, Any]], base: _Base, time_ns: int, attributes: Any
    ) -> None:
        self._found, self._host, self._time_ns = found, base.host, time_ns
        self._seconds = int(time_ns // 1_000_000_000)
        self._tags = [*base.tags, *(tag(k, v) for k, v in (attributes or {}).items())]

    def interval_s(self, start_ns: int) -> int:
        return max(1, round((self._time_ns - start_ns) / 1e9))

    def add(
        self,
        name: str,
        kind: int,
        value: float,
        interval_s: int | None = None,
        *,
        unit: str | None = None,
        tags: tuple[str, ...] = (),
    ) -> None:
        if not math.isfinite(value):
            return
        item: dict[str, Any] = {
            "metric": name,
            "type": kind,
            "points": [{"timestamp": self._seconds, "value": float(value)}],
            "tags": [*self._tags, *tags],
        }
        if interval_s is not None:
            item["interval"] = interval_s
        if unit:
            item["unit"] = unit
        if self._host:
            item["resources"] = [{"name": self._host, "type": "host"}]
        self._found.append(item)


def to_datadog_event(alert: Alert, *, extra_tags: tuple[str, ...] = ()) -> dict[str, Any]:
    """Map an alert to the ``data.attributes`` of a Datadog v2 alert event (``/api/v2/events``).

    ``aggregation_key`` is the alert's fingerprint, so every state change of one budget and
    operation lands in the same Datadog event group; ``status`` is ``warn``/``error``, and
    ``ok`` when resolved. Tags: ``service``, ``operation``, ``budget``, ``severity``,
    ``otelperf_kind`` plus the resource's unified service tags and ``extra_tags``.
    """
    tags, host = resource_tags(alert.resource)
    if not any(t.startswith("service:") for t in tags):
        tags.insert(0, tag("service", alert.service))
    for key, value in (
        ("operation", alert.operation),
        ("budget", alert.budget),
        ("severity", alert.severity.value),
        ("otelperf_kind", alert.kind.value),
    ):
        if value:
            tags.append(tag(key, value))
    custom = {
        k: v
        for k, v in alert.to_dict().items()
        if k
        in (
            "kind",
            "statistic",
            "budget",
            "actual",
            "threshold",
            "unit",
            "ratio",
            "window_s",
            "trace_id",
            "fingerprint",
            "operation",
            "detail",
        )
        and v is not None
    }
    when = datetime.datetime.fromtimestamp(alert.timestamp_ns / 1e9, tz=datetime.timezone.utc)
    event: dict[str, Any] = {
        "title": alert.title[:500],
        "message": alert.message[:4000],
        "category": "alert",
        "aggregation_key": alert.fingerprint,
        "timestamp": when.isoformat(timespec="seconds"),
        "tags": [*tags, *extra_tags][:100],
        "attributes": {
            "status": _STATUS[alert.severity.value],
            "priority": _PRIORITY[alert.severity.value],
            "custom": custom,
        },
    }
    if host:
        event["host"] = host
    if alert.severity is AlertSeverity.RESOLVED:
        event["attributes"].pop("priority")
    return event

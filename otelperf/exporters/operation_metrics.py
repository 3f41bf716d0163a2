"""``OperationMetricsExporter``: adds ``otelperf.operation.duration`` to every metric export.

The SDK's ``Histogram.record`` costs as much as a whole span (13 to 27 µs on our benchmark machine),
so otelperf never records durations through it. The percentile store already holds every
operation's durations in OTel base-2 exponential buckets; this wrapper turns them into
``ExponentialHistogram`` points (unit ``s``, attributes ``operation`` and ``span.kind``) and adds
them to each batch the SDK's ``PeriodicExportingMetricReader`` hands to the real exporter. The
numbers ``otelperf.stats()`` reports and the histogram a Collector or Prometheus receives are
therefore the same buckets, and they merge downstream.

Temporality is the wrapped exporter's, given to the wrapper by whoever built that exporter (the
SDK has no public getter of an exporter's preference, and otelperf reads no SDK private
attribute): ``configure()`` builds the OTLP exporters with what
``OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`` asks for and passes the same to the wrapper;
otelperf's Datadog and New Relic exporters state theirs (delta) in their public
``preferred_temporality`` attribute, which the wrapper reads when it is given nothing.
Cumulative points cover everything since the process (or fork) started; delta points cover the
time since the previous export.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from opentelemetry.sdk.metrics import Histogram
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Buckets,
    ExponentialHistogram,
    ExponentialHistogramDataPoint,
    Metric,
    MetricExporter,
    MetricExportResult,
    MetricsData,
    ResourceMetrics,
    ScopeMetrics,
)
from opentelemetry.sdk.metrics.view import Aggregation
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from otelperf import _fork
from otelperf._safety import never_raise
from otelperf.aggregates import ExpBuckets, ExpSketch, KeyedWindows, lower_boundary
from otelperf.processors.aggregator import Aggregator

__all__ = ["DURATION_METRIC", "OperationMetricsExporter"]

DURATION_METRIC = "otelperf.operation.duration"
_SCOPE = InstrumentationScope("otelperf")
_NO_BUCKETS = Buckets(offset=0, bucket_counts=[])


class OperationMetricsExporter(MetricExporter):
    """Wrap ``inner``: each export carries otelperf's per-operation duration histograms too.

    ``export`` runs on the reader's thread; building the points holds the store lock for the
    time it takes to merge each operation's sub-windows (no per-span work). It never raises:
    if building the points fails, the SDK's own metrics are still exported.
    """

    def __init__(
        self,
        inner: MetricExporter,
        aggregator: Aggregator,
        *,
        resource: Resource,
        preferred_temporality: Mapping[type, AggregationTemporality] | None = None,
        preferred_aggregation: Mapping[type, Aggregation] | None = None,
    ) -> None:
        """Wrap ``inner`` for ``aggregator``'s store, with ``inner``'s preferences.

        Args:
            inner: The exporter that sends everything.
            aggregator: Owner of the percentile store the histograms come from.
            resource: Resource of the points when the SDK's batch has none.
            preferred_temporality: What ``inner`` was built to prefer, so the reader asks the
                SDK's instruments for it and the duration points match; default: ``inner``'s
                public ``preferred_temporality`` attribute if it has one (otelperf's vendor
                exporters), else the SDK default (cumulative).
            preferred_aggregation: What ``inner`` was built with (e.g. exponential histograms
                for ``OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION``).
        """
        if preferred_temporality is None:
            stated = getattr(inner, "preferred_temporality", None)
            preferred_temporality = stated if isinstance(stated, Mapping) else None
        temporality = dict(preferred_temporality) if preferred_temporality else None
        aggregation = dict(preferred_aggregation) if preferred_aggregation else None
        super().__init__(preferred_temporality=temporality, preferred_aggregation=aggregation)
        self._inner = inner
        self.last_ok = True  # the last export's outcome (read by a bounded shutdown)
        self._aggregator = aggregator
        self._resource = resource
        histogram = (temporality or {}).get(Histogram, AggregationTemporality.CUMULATIVE)
        self._delta = histogram is AggregationTemporality.DELTA
        self._reinit()
        _fork.register(self._reinit)

    def _reinit(self) -> None:
        # After fork the child's store starts empty, and so does its cumulative history.
        self._start_unix_ns = time.time_ns()
        self._last_unix_ns = self._start_unix_ns
        self._previous: dict[str, ExpSketch] = {}

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        """Add the duration histograms to ``metrics_data`` and pass it to the inner exporter."""
        metric = self._duration_metric()
        if metric is not None:
            metrics_data = _with_metric(metrics_data, metric, self._resource)
        result = self._inner.export(metrics_data, timeout_millis=timeout_millis, **kwargs)
        self.last_ok = result is MetricExportResult.SUCCESS
        return result

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        """Flush the inner exporter."""
        return self._inner.force_flush(timeout_millis=timeout_millis)

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        """Shut the inner exporter down."""
        self._inner.shutdown(timeout_millis=timeout_millis, **kwargs)

    @never_raise
    def _duration_metric(self) -> Metric | None:
        now_unix_ns = time.time_ns()
        points = self._aggregator.with_store(self._snapshot)
        start_unix_ns = self._last_unix_ns if self._delta else self._start_unix_ns
        self._last_unix_ns = now_unix_ns
        if not points:
            return None
        temporality = (
            AggregationTemporality.DELTA if self._delta else AggregationTemporality.CUMULATIVE
        )
        data_points = [
            _point(key, kind, buckets, start_unix_ns, now_unix_ns) for key, kind, buckets in points
        ]
        return Metric(
            name=DURATION_METRIC,
            description="Duration of each operation (span name), from otelperf's percentile store.",
            unit="s",
            data=ExponentialHistogram(data_points=data_points, aggregation_temporality=temporality),
        )

    def _snapshot(self, now_ns: int, store: KeyedWindows) -> list[tuple[str, str, ExpBuckets]]:
        # Runs under the store lock: copy out immutable buckets, nothing else.
        found = []
        for key, data in store.all_cumulative(now_ns).items():
            kind = store.kind(key) or "internal"
            if not self._delta:
                found.append((key, kind, data.sketch.buckets()))
                continue
            previous = self._previous.get(key)
            buckets = (
                data.sketch.buckets() if previous is None else data.sketch.delta_since(previous)
            )
            self._previous[key] = data.sketch
            if buckets.count:
                found.append((key, kind, buckets))
        return found


def _point(
    key: str, kind: str, buckets: ExpBuckets, start_unix_ns: int, now_unix_ns: int
) -> ExponentialHistogramDataPoint:
    return ExponentialHistogramDataPoint(
        attributes={"operation": key, "span.kind": kind},
        start_time_unix_nano=start_unix_ns,
        time_unix_nano=now_unix_ns,
        count=buckets.count,
        sum=buckets.sum,
        scale=buckets.scale,
        zero_count=buckets.zero_count,
        positive=Buckets(offset=buckets.offset, bucket_counts=list(buckets.counts)),
        negative=_NO_BUCKETS,
        flags=0,
        min=buckets.min if buckets.min is not None else _low_bound(buckets),
        max=buckets.max if buckets.max is not None else _high_bound(buckets),
    )


# A delta between two cumulative states has no exact min/max, and the OTLP encoder always writes
# both fields. The bounds of the outermost non-empty buckets are true bounds (within one bucket,
# i.e. the sketch's relative error) rather than an invented exact value.
def _low_bound(buckets: ExpBuckets) -> float:
    if buckets.zero_count:
        return 0.0
    first = next(i for i, n in enumerate(buckets.counts) if n)
    return lower_boundary(buckets.offset + first, buckets.scale)


def _high_bound(buckets: ExpBuckets) -> float:
    if not any(buckets.counts):
        return 0.0
    last = max(i for i, n in enumerate(buckets.counts) if n)
    return lower_boundary(buckets.offset + last + 1, buckets.scale)


def _with_metric(data: MetricsData, metric: Metric, resource: Resource) -> MetricsData:
    scope = ScopeMetrics(scope=_SCOPE, metrics=[metric], schema_url="")
    if not data.resource_metrics:
        return MetricsData(
            resource_metrics=[
                ResourceMetrics(resource=resource, scope_metrics=[scope], schema_url="")
            ]
        )
    first, *rest = data.resource_metrics
    # Join the SDK's own "otelperf" scope (otelperf.dropped lives there) if it is present: the
    # OTLP encoder groups by scope, and a second scope of the same name would replace the first.
    scopes = list(first.scope_metrics)
    for i, existing in enumerate(scopes):
        if existing.scope.name == _SCOPE.name:
            scopes[i] = ScopeMetrics(
                scope=existing.scope,
                metrics=[*existing.metrics, metric],
                schema_url=existing.schema_url,
            )
            break
    else:
        scopes.append(scope)
    merged = ResourceMetrics(
        resource=first.resource, scope_metrics=scopes, schema_url=first.schema_url
    )
    return MetricsData(resource_metrics=[merged, *rest])

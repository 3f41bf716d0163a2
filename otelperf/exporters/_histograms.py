"""Pure helpers the vendor metric mappings share: percentiles of exported histograms, deltas.

Datadog counts and New Relic counts/summaries are deltas over an interval, while the SDK (and
``otelperf.operation.duration``) may export cumulative points, depending on
``OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE``. :class:`DeltaState` turns cumulative
points into deltas the way the Collector's ``cumulativetodelta`` processor does; the vendor
percentiles are then computed from the same exponential buckets, with the same estimator
(:meth:`otelperf.aggregates.ExpBuckets.quantiles`), as ``otelperf.stats()``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry.sdk.metrics.export import ExponentialHistogramDataPoint

from otelperf.aggregates import ExpBuckets

__all__ = ["QUANTILES", "DeltaState", "attribute_key", "point_buckets"]

QUANTILES = (0.5, 0.9, 0.95, 0.99, 0.999)
"""Quantiles the vendor mappings publish: those of :class:`otelperf.aggregates.OperationStats`."""

SeriesKey = tuple[str, tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]]


def attribute_key(attributes: Mapping[str, Any] | None) -> tuple[tuple[str, str], ...]:
    """A hashable, order-independent key for a set of attributes."""
    return tuple(sorted((str(k), repr(v)) for k, v in (attributes or {}).items()))


def point_buckets(point: ExponentialHistogramDataPoint) -> ExpBuckets:
    """The positive buckets of an OTLP exponential histogram point as :class:`ExpBuckets`.

    Negative buckets are ignored (durations and sizes are never negative); their count is
    taken off ``count`` so the buckets stay consistent.
    """
    counts = tuple(int(n) for n in point.positive.bucket_counts)
    positive = sum(counts) + int(point.zero_count)
    return ExpBuckets(
        scale=int(point.scale),
        offset=int(point.positive.offset),
        counts=counts,
        zero_count=int(point.zero_count),
        count=positive,
        sum=float(point.sum),
        min=float(point.min) if positive else None,
        max=float(point.max) if positive else None,
    )


class DeltaState:
    """Remember the last cumulative value of each series and return what was added since.

    Not thread-safe: the exporter that owns it calls it from the metric reader's thread only.
    Holds at most ``max_series`` series; beyond that the oldest is forgotten and counted in
    :attr:`evicted` (a forgotten series that comes back is treated as new).
    """

    def __init__(self, *, max_series: int = 10_000) -> None:
        """Start empty."""
        if max_series < 1:
            raise ValueError(f"max_series must be >= 1, got {max_series!r}")
        self._max = max_series
        self._last: dict[SeriesKey, tuple[int, int, object]] = {}
        self.evicted = 0

    def sum_delta(
        self, key: SeriesKey, start_ns: int, time_ns: int, value: float
    ) -> tuple[float, int]:
        """Return ``(value added, start of the delta in ns)`` for a cumulative sum point.

        The first point of a series (or one whose start time changed, i.e. a reset) counts
        in full since its own start time; a value lower than the last one is taken as a reset.
        """
        value = float(value)
        last = self._remember(key, start_ns, time_ns, value)
        if last is None or not isinstance(last[2], float):
            return value, start_ns
        if value < last[2]:
            return value, start_ns
        return value - last[2], last[1]

    def histogram_delta(
        self, key: SeriesKey, start_ns: int, time_ns: int, buckets: ExpBuckets
    ) -> tuple[ExpBuckets, int]:
        """Return ``(buckets added, start of the delta in ns)`` for a cumulative histogram.

        Resets are detected as in :meth:`sum_delta` (start time changed, or the previous state
        is not contained in this one).
        """
        last = self._remember(key, start_ns, time_ns, buckets)
        if last is None or not isinstance(last[2], ExpBuckets):
            return buckets, start_ns
        try:
            return buckets.minus(last[2]), last[1]
        except ValueError:
            return buckets, start_ns

    def _remember(
        self, key: SeriesKey, start_ns: int, time_ns: int, value: object
    ) -> tuple[int, int, object] | None:
        last = self._last.pop(key, None)
        if last is None and len(self._last) >= self._max:
            del self._last[next(iter(self._last))]
            self.evicted += 1
        self._last[key] = (start_ns, time_ns, value)
        if last is None or last[0] != start_ns:
            return None
        return last

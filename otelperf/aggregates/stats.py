"""``OperationStats``: the public per-operation result (names are a DESIGN §4 contract)."""

from __future__ import annotations

from dataclasses import dataclass, field

from otelperf.aggregates.exponential import ExpSketch

__all__ = ["OperationStats"]

_QUANTILES = (0.5, 0.9, 0.95, 0.99, 0.999)
_MS_PER_S = 1e3


@dataclass(frozen=True, slots=True, kw_only=True)
class OperationStats:
    """Latency and error statistics of one operation over a sliding window.

    Durations are milliseconds. Percentiles come from an OTel base-2 exponential sketch: each
    is within ``relative_error`` (<= 0.543 % at the default settings while the window's
    latencies span at most 9.6 decades) of the true value between the two nearest samples
    (numpy's linear rule); ``min_ms``, ``max_ms`` and ``mean_ms`` are exact. Operations with
    no sample in the window have no ``OperationStats``. Immutable: the window sketch it reads
    is private (``sketch`` returns a copy).
    """

    operation: str
    """The operation key (span name, possibly extended by key attributes)."""
    kind: str
    """Span kind in lower case (``server``, ``client``, ...), or ``mixed``."""
    count: int
    """Samples in the window."""
    errors: int
    """Samples in the window whose span had an error status."""
    error_rate: float
    """``errors / count``."""
    min_ms: float
    mean_ms: float
    max_ms: float
    p50_ms: float
    p90_ms: float
    p95_ms: float
    p99_ms: float
    p999_ms: float
    window_s: float
    """Time span the statistics cover, in seconds: the configured window once the
    operation has been seen for that long, less before."""
    _sketch: ExpSketch = field(compare=False, repr=False)
    # The window sketch (seconds) the numbers were computed from, shared with the store's
    # cache: private so nobody can change it under the store or under ``quantile``.

    @classmethod
    def from_sketch(
        cls, *, operation: str, kind: str, sketch: ExpSketch, errors: int, window_s: float
    ) -> OperationStats:
        """Compute the statistics of a window sketch (in seconds), keeping a reference to it.

        Raises:
            ValueError: If the sketch is empty.
        """
        count = sketch.count
        if count == 0:
            raise ValueError(f"no samples for operation {operation!r}")
        p50, p90, p95, p99, p999 = (value * _MS_PER_S for value in sketch.quantiles(_QUANTILES))
        # The float sum can round the mean just outside [min, max] when all values are equal.
        mean_s = min(max(sketch.sum / count, sketch.min), sketch.max)
        return cls(
            operation=operation,
            kind=kind,
            count=count,
            errors=errors,
            error_rate=errors / count,
            min_ms=sketch.min * _MS_PER_S,
            mean_ms=mean_s * _MS_PER_S,
            max_ms=sketch.max * _MS_PER_S,
            p50_ms=p50,
            p90_ms=p90,
            p95_ms=p95,
            p99_ms=p99,
            p999_ms=p999,
            window_s=window_s,
            _sketch=sketch,
        )

    @property
    def sketch(self) -> ExpSketch:
        """An independent copy of the window sketch (values in seconds); changing it is safe."""
        return self._sketch.copy()

    @property
    def relative_error(self) -> float:
        """Worst relative error of the percentiles (0.00543 at scale 6)."""
        return self._sketch.relative_error

    def quantile(self, q: float) -> float:
        """Estimate the ``q``-quantile in milliseconds, ``q`` in ``[0, 1]``.

        Raises:
            ValueError: If ``q`` is not in ``[0, 1]``.
        """
        return self._sketch.quantile(q) * _MS_PER_S

    def count_over(self, threshold_ms: float) -> int:
        """Count samples in the window longer than ``threshold_ms``, at bucket resolution.

        Samples in the bucket holding the threshold count as not over (never over-counts;
        see ``ExpBuckets.count_over``).

        Raises:
            ValueError: If ``threshold_ms`` is NaN.
        """
        return self._sketch.count_over(threshold_ms / _MS_PER_S)

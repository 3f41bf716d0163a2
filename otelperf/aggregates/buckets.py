"""``ExpBuckets``: an immutable exponential histogram, as exported, and the reads on it.

It maps 1:1 onto an OTLP ``ExponentialHistogramDataPoint`` with only positive buckets, so the
same estimates work on a sketch's snapshot, on a delta between two exports, or on a data point
received over OTLP.
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import accumulate

from otelperf.aggregates._counts import WIDE, downscaled
from otelperf.aggregates.mapping import MAX_SCALE, MIN_SCALE, bucket_index, midpoint, relative_error

__all__ = ["ExpBuckets"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ExpBuckets:
    """Positive buckets ``offset + k`` holding ``counts[k]`` values at ``scale``, plus zeros.

    ``min``/``max`` are exact when known and ``None`` otherwise (an empty histogram, or a
    delta between two cumulative states). Reads are pure: call them from any thread.
    """

    scale: int
    offset: int
    counts: tuple[int, ...]
    zero_count: int
    count: int
    sum: float
    min: float | None
    max: float | None

    def __post_init__(self) -> None:
        """Check the invariants the reads rely on.

        Raises:
            ValueError: If the scale is out of range, a count is negative, or
                ``sum(counts) + zero_count != count``.
        """
        if not MIN_SCALE <= self.scale <= MAX_SCALE:
            raise ValueError(f"scale must be in [{MIN_SCALE}, {MAX_SCALE}], got {self.scale!r}")
        if self.zero_count < 0 or (self.counts and min(self.counts) < 0):
            raise ValueError("bucket counts must not be negative")
        if sum(self.counts) + self.zero_count != self.count:
            raise ValueError(
                f"count {self.count} != zero_count {self.zero_count} + bucket counts "
                f"{sum(self.counts)}"
            )

    @property
    def relative_error(self) -> float:
        """Worst relative error of an order statistic estimated at this scale."""
        return relative_error(self.scale)

    def quantile(self, q: float) -> float:
        """Estimate the ``q``-quantile; see ``quantiles``.

        Raises:
            ValueError: If ``q`` is not in ``[0, 1]``.
        """
        return self.quantiles((q,))[0]

    def quantiles(self, qs: Iterable[float]) -> tuple[float, ...]:
        """Estimate several quantiles with one pass over the buckets.

        The rank convention is numpy's default: ``q`` maps to rank ``q * (count - 1)``
        between two order statistics. Each is estimated by the logarithmic midpoint of its
        bucket, clamped to ``[min, max]`` (rank 0 is ``min`` and rank ``count - 1`` is
        ``max`` when known; ranks among the zeros are 0), then the two are interpolated
        linearly. The midpoint is within ``relative_error`` of every value in its bucket,
        so the estimate lies in ``[x_lo * (1 - e), x_hi * (1 + e)]`` for the order
        statistics ``x_lo <= x_hi`` around the rank. (Interpolating inside a bucket would
        do better on smooth data but doubles the worst case.)

        Args:
            qs: Quantiles in ``[0, 1]``.

        Returns:
            One estimate per ``q``, in the histogram's unit; NaN when it is empty.

        Raises:
            ValueError: If a ``q`` is not in ``[0, 1]``.
        """
        fields = (self.counts, self.offset, self.scale, self.zero_count, self.count)
        return _quantiles_of(qs, *fields, self.min, self.max)

    def count_over(self, threshold: float) -> int:
        """Count values greater than ``threshold``, at bucket resolution.

        Exact when ``threshold`` is below ``min``, at least ``max``, negative or zero.
        Otherwise values in the bucket that contains ``threshold`` count as not over: the
        result is the exact count above that bucket's upper boundary. It never over-counts
        and misses only values within one bucket width (``2 * relative_error``) above it.

        Raises:
            ValueError: If ``threshold`` is NaN.
        """
        fields = (self.counts, self.offset, self.scale, self.zero_count, self.count)
        return _count_over_of(threshold, *fields, self.min, self.max)

    def minus(self, earlier: ExpBuckets) -> ExpBuckets:
        """Return the values added between the cumulative state ``earlier`` and this one.

        For delta temporality: ``now.minus(at_last_export)``. If the scale dropped in
        between, ``earlier`` is downscaled to match. ``min``/``max`` of the difference are
        unknown (``None``); its sum is clamped at 0 against rounding.

        Raises:
            ValueError: If ``earlier`` holds values this state does not.
        """
        scale = min(self.scale, earlier.scale)
        now, now_offset = downscaled(array(WIDE, self.counts), self.offset, self.scale - scale)
        then, then_offset = downscaled(
            array(WIDE, earlier.counts), earlier.offset, earlier.scale - scale
        )
        values = list(now)
        for position, previous in enumerate(then, then_offset - now_offset):
            if not previous:
                continue
            if not 0 <= position < len(values) or values[position] < previous:
                raise ValueError("minus: `earlier` is not an earlier state of this histogram")
            values[position] -= previous
        count = self.count - earlier.count
        zero_count = self.zero_count - earlier.zero_count
        if zero_count < 0:
            raise ValueError("minus: `earlier` has more zeros than this histogram")
        nonzero = [position for position, value in enumerate(values) if value]
        first, last = (nonzero[0], nonzero[-1]) if nonzero else (0, -1)
        return ExpBuckets(
            scale=scale,
            offset=now_offset + first if nonzero else 0,
            counts=tuple(values[first : last + 1]),
            zero_count=zero_count,
            count=count,
            sum=max(self.sum - earlier.sum, 0.0) if count else 0.0,
            min=None,
            max=None,
        )


# The reads below take the bucket fields directly so that ``ExpSketch`` can run them on its
# live count array, without building (and validating) an ``ExpBuckets`` first.


def _quantiles_of(
    qs: Iterable[float],
    counts: Sequence[int],
    offset: int,
    scale: int,
    zero_count: int,
    count: int,
    low: float | None,
    high: float | None,
) -> tuple[float, ...]:
    """``ExpBuckets.quantiles`` over raw fields (``low``/``high`` are min/max if known)."""
    wanted = tuple(qs)
    for q in wanted:
        if not 0.0 <= q <= 1.0:
            raise ValueError(f"quantile must be in [0, 1], got {q!r}")
    if count == 0:
        return tuple(math.nan for _ in wanted)
    cumulative = list(accumulate(counts))

    def order_statistic(rank: int) -> float:
        if rank <= 0 and low is not None:
            return low
        if rank >= count - 1 and high is not None:
            return high
        positive_rank = rank - zero_count
        if positive_rank < 0:
            return 0.0
        estimate = midpoint(offset + bisect_right(cumulative, positive_rank), scale)
        if low is not None:
            estimate = max(estimate, low)
        if high is not None:
            estimate = min(estimate, high)
        return estimate

    estimates = []
    for q in wanted:
        rank = q * (count - 1)
        below = math.floor(rank)
        fraction = rank - below
        lower = order_statistic(below)
        if fraction == 0.0:
            estimates.append(lower)
            continue
        upper = order_statistic(below + 1)
        estimates.append(min(max(lower + (upper - lower) * fraction, lower), upper))
    return tuple(estimates)


def _count_over_of(
    threshold: float,
    counts: Sequence[int],
    offset: int,
    scale: int,
    zero_count: int,
    count: int,
    low: float | None,
    high: float | None,
) -> int:
    """``ExpBuckets.count_over`` over raw fields (``low``/``high`` are min/max if known)."""
    if math.isnan(threshold):
        raise ValueError("count_over threshold must not be NaN")
    if count == 0 or (high is not None and threshold >= high):
        return 0
    if threshold < 0.0 or (low is not None and threshold < low):
        return count
    if threshold == 0.0:
        return count - zero_count
    if threshold == math.inf:
        return 0
    first_over = bucket_index(threshold, scale) + 1 - offset
    return sum(counts[max(first_over, 0) :])

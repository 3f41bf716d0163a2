"""Independent reference implementations for the aggregates tests (integers only, no logs)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

from otelperf.aggregates import ExpBuckets


def ceil_log2(n: int) -> int:
    """ceil(log2(n)) for an integer n >= 1, exactly."""
    return (n - 1).bit_length()


def reference_index(value: float, scale: int) -> int:
    """The OTel bucket index of a positive float, from exact rational arithmetic.

    value = numerator / 2**d. For scale > 0 the index is ceil(log2(value ** 2**scale)) - 1,
    where value ** 2**scale = numerator ** 2**scale / 2**(d * 2**scale). For scale <= 0 it is
    ceil(ceil(log2(value)) / 2**-scale) - 1. Slow at high scales: keep scale <= 10.
    """
    numerator, denominator = value.as_integer_ratio()
    d = denominator.bit_length() - 1
    if scale <= 0:
        ceiling = ceil_log2(numerator) - d
        return -(-ceiling >> -scale) - 1
    return ceil_log2(numerator ** (1 << scale)) - d * (1 << scale) - 1


def reference_buckets(values: Sequence[float], scale: int) -> tuple[int, tuple[int, ...]]:
    """(offset, counts) of the positive values at ``scale``, trimmed to the occupied range."""
    histogram = Counter(reference_index(value, scale) for value in values if value > 0)
    if not histogram:
        return 0, ()
    low, high = min(histogram), max(histogram)
    return low, tuple(histogram.get(index, 0) for index in range(low, high + 1))


def smallest_fitting_shift(values: Sequence[float], scale: int, max_size: int) -> int:
    """The scale a sketch starting at ``scale`` must end at for these values."""
    indices = [reference_index(value, scale) for value in values if value > 0]
    if not indices:
        return scale
    low, high = min(indices), max(indices)
    while high - low >= max_size:
        scale, low, high = scale - 1, low >> 1, high >> 1
    return scale


def order_statistics_around(sorted_values: Sequence[float], q: float) -> tuple[float, float]:
    """The two order statistics around rank q * (n - 1) (numpy's linear rule)."""
    rank = q * (len(sorted_values) - 1)
    return sorted_values[math.floor(rank)], sorted_values[math.ceil(rank)]


def same_histogram(left: ExpBuckets, right: ExpBuckets) -> bool:
    """Equal buckets, counts, min and max; the float sums only up to rounding."""
    return (
        left.scale == right.scale
        and left.offset == right.offset
        and left.counts == right.counts
        and left.zero_count == right.zero_count
        and left.count == right.count
        and left.min == right.min
        and left.max == right.max
        and math.isclose(left.sum, right.sum, rel_tol=1e-9, abs_tol=1e-300)
    )

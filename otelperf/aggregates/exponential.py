"""A mergeable latency sketch over OpenTelemetry's base-2 exponential buckets.

``ExpSketch`` holds the same buckets an OTLP ``ExponentialHistogramDataPoint`` carries (see
``mapping``), so the histogram we export is the sketch itself and percentiles read from it
have a known bound: ``relative_error(scale)``, 0.543 % at scale 6. The sketch is
unit-agnostic over non-negative floats; otelperf feeds it seconds, the unit it exports.

Not thread-safe: the adapter that owns a sketch also owns its lock.
"""

from __future__ import annotations

import math
import sys
from array import array
from collections.abc import Iterable, Iterator

from otelperf.aggregates._counts import (
    NARROW,
    downscaled,
    shift_to_fit,
    sum_type,
    summed,
    widened,
    wider,
)
from otelperf.aggregates.buckets import ExpBuckets, _count_over_of, _quantiles_of
from otelperf.aggregates.mapping import (
    _TOLERANCE,
    MAX_SCALE,
    MIN_SCALE,
    _exact_positive_scale_index,
    relative_error,
)

__all__ = ["DEFAULT_MAX_SCALE", "DEFAULT_MAX_SIZE", "ExpSketch"]

DEFAULT_MAX_SIZE = 2048
"""Default bucket cap: keeps scale 6 (<= 0.543 % error) up to 32 octaves (9.6 decades, e.g.
10 µs to 40 s). The count array covers only the occupied index range, so the cap costs
nothing until the data needs it."""
DEFAULT_MAX_SCALE = 6
"""Default starting scale (0.543 % error). A finer start (scale 8: 0.136 %) would double the
buckets per scale step for every operation wider than a factor of ~16 (measured: a 3-decade
operation at 2048 buckets would sit at scale 7 with 2x the memory of scale 6), for accuracy
nobody asked for: the contract is scale >= 6."""


class ExpSketch:
    """A base-2 exponential histogram of non-negative floats with bounded buckets.

    It starts at ``max_scale`` and halves its resolution (scale - 1, adjacent buckets merged)
    whenever the occupied index range would exceed ``max_size`` buckets, so its scale is the
    largest one at which everything it has seen fits. Tracks count, sum, min, max and the
    count of exact zeros.
    """

    __slots__ = (
        "_count",
        "_counts",
        "_max",
        "_max_scale",
        "_max_size",
        "_min",
        "_offset",
        "_scale",
        "_sum",
        "_zero_count",
    )

    def __init__(
        self, *, max_size: int = DEFAULT_MAX_SIZE, max_scale: int = DEFAULT_MAX_SCALE
    ) -> None:
        """Create an empty sketch.

        Args:
            max_size: Most buckets the sketch holds (at least 4).
            max_scale: Starting (and highest) scale, in ``[MIN_SCALE, MAX_SCALE]``.

        Raises:
            ValueError: If an argument is out of range.
        """
        if max_size < 4:
            raise ValueError(f"max_size must be at least 4, got {max_size!r}")
        if not MIN_SCALE <= max_scale <= MAX_SCALE:
            raise ValueError(f"max_scale must be in [{MIN_SCALE}, {MAX_SCALE}], got {max_scale!r}")
        self._max_size = max_size
        self._max_scale = max_scale
        self._scale = max_scale
        self._counts: array[int] = array(NARROW)
        self._offset = 0
        self._count = 0
        self._zero_count = 0
        self._sum = 0.0
        self._min = math.inf
        self._max = -math.inf

    def __repr__(self) -> str:
        """Summarise the sketch without its buckets."""
        return (
            f"ExpSketch(count={self._count}, scale={self._scale}, "
            f"buckets={len(self._counts)}, min={self.min}, max={self.max})"
        )

    @property
    def count(self) -> int:
        """Number of values added, zeros included."""
        return self._count

    @property
    def zero_count(self) -> int:
        """Number of values that were exactly zero."""
        return self._zero_count

    @property
    def sum(self) -> float:
        """Sum of the values added."""
        return self._sum

    @property
    def min(self) -> float:
        """Smallest value added (exact); NaN when empty."""
        return self._min if self._count else math.nan

    @property
    def max(self) -> float:
        """Largest value added (exact); NaN when empty."""
        return self._max if self._count else math.nan

    @property
    def scale(self) -> int:
        """Current scale; it only goes down."""
        return self._scale

    @property
    def max_size(self) -> int:
        """Most buckets the sketch holds."""
        return self._max_size

    @property
    def max_scale(self) -> int:
        """The scale the sketch started at."""
        return self._max_scale

    @property
    def relative_error(self) -> float:
        """Worst relative error of a quantile estimate at the current scale."""
        return relative_error(self._scale)

    @property
    def memory_bytes(self) -> int:
        """Bytes held by this sketch: the object, its count array and its three floats."""
        floats = sys.getsizeof(0.0) * 3
        return sys.getsizeof(self) + sys.getsizeof(self._counts) + floats

    def add(self, value: float) -> None:
        """Add one non-negative finite value (``add_many`` is the fast path).

        Raises:
            ValueError: If ``value`` is negative, infinite or NaN.
        """
        self.add_many((value,))

    def add_many(self, values: Iterable[float]) -> None:
        """Add non-negative finite values (about 300 ns each on a slow VM).

        Raises:
            ValueError: At the first value that is negative, infinite or NaN; the values
                before it have been added.
        """
        iterator = iter(values)
        while self._add_until_rescaled(iterator):
            pass

    def _add_until_rescaled(self, values: Iterator[float]) -> bool:
        """Add values until the scale changes (then return True so the caller restarts)."""
        # Hot loop: state lives in locals and is written back once, in `finally`, so the
        # sketch stays consistent even when a bad value raises half-way.
        scale = self._scale
        multiplier = float(1 << scale) if scale > 0 else 0.0
        tolerance = _TOLERANCE[scale] if scale > 0 else 0.0
        upper_tolerance = 1.0 - tolerance
        shift = -scale if scale <= 0 else 0
        counts, offset = self._counts, self._offset
        size = len(counts)
        total, low, high = self._sum, self._min, self._max
        added = zeros = 0
        log2, ceil, frexp, inf = math.log2, math.ceil, math.frexp, math.inf
        rescaled = False
        try:
            for value in values:
                if 0.0 < value < inf:
                    if scale > 0:
                        scaled = log2(value) * multiplier
                        index = ceil(scaled)
                        if tolerance < index - scaled < upper_tolerance:
                            index -= 1
                        else:  # within rounding error of a boundary: decide exactly
                            index = _exact_positive_scale_index(value, scale, round(scaled))
                    else:
                        mantissa, exponent = frexp(value)
                        index = (exponent - 2 if mantissa == 0.5 else exponent - 1) >> shift
                    total += value
                    if value < low:
                        low = value
                    if value > high:
                        high = value
                    added += 1
                    slot = index - offset
                    if 0 <= slot < size:
                        try:
                            counts[slot] += 1
                        except OverflowError:
                            self._widen()
                            counts = self._counts
                            counts[slot] += 1
                    elif self._insert_outside(index):
                        rescaled = True
                        break
                    else:
                        counts, offset = self._counts, self._offset
                        size = len(counts)
                elif value == 0.0:
                    zeros += 1
                    low = min(low, 0.0)
                    high = max(high, 0.0)
                else:
                    raise ValueError(f"sketch values must be >= 0 and finite, got {value!r}")
        finally:
            self._sum, self._min, self._max = total, low, high
            self._count += added + zeros
            self._zero_count += zeros
        return rescaled

    def _insert_outside(self, index: int) -> bool:
        """Count a value whose bucket is outside the array; return True if it downscaled."""
        if self._counts:
            low = min(index, self._offset)
            high = max(index, self._offset + len(self._counts) - 1)
        else:
            low = high = index
        shift = shift_to_fit(low, high, self._max_size)
        if shift:
            self._downscale(shift)
        self._cover(low >> shift, high >> shift)
        slot = (index >> shift) - self._offset
        try:
            self._counts[slot] += 1
        except OverflowError:
            self._widen()
            self._counts[slot] += 1
        return shift > 0

    def _downscale(self, shift: int) -> None:
        """Lower the scale by ``shift``, merging each run of 2**shift buckets."""
        self._counts, self._offset = downscaled(self._counts, self._offset, shift)
        self._scale -= shift

    def _cover(self, low: int, high: int) -> None:
        """Grow the count array with zeros so it spans bucket indices ``[low, high]``."""
        counts = self._counts
        if not counts:
            self._counts = array(counts.typecode, [0]) * (high - low + 1)
            self._offset = low
            return
        if low < self._offset:
            counts[0:0] = array(counts.typecode, [0]) * (self._offset - low)
            self._offset = low
        end = self._offset + len(counts) - 1
        if high > end:
            counts.extend(array(counts.typecode, [0]) * (high - end))

    def _add_counts(self, start: int, source: array[int], bound: int) -> None:
        """Add ``source`` into the count array from ``start``; ``bound`` caps any bucket."""
        end = start + len(source)
        code = sum_type(self._counts.typecode, source.typecode, bound)
        if code != self._counts.typecode:
            self._widen(code)  # once, for the whole array, before slicing it
        counts = self._counts
        counts[start:end] = summed(counts[start:end], source, bound)

    def _widen(self, typecode: str | None = None) -> None:
        """Widen the counts to ``typecode`` (default: the next width; a bucket overflowed)."""
        self._counts = widened(self._counts, typecode or wider(self._counts.typecode))

    def merge(self, other: ExpSketch) -> None:
        """Add every value of ``other`` to this sketch (``other`` is unchanged).

        The result has the scale of the sketch of the concatenated data: the lower of the two
        scales, lowered further if the union of their ranges needs more than ``max_size``.
        """
        if other is self:
            other = other.copy()
        if other._count == 0:
            return
        if other._counts:
            source, source_offset = other._counts, other._offset
            scale = min(self._scale, other._scale)
            low = source_offset >> (other._scale - scale)
            high = (source_offset + len(source) - 1) >> (other._scale - scale)
            if self._counts:
                own = self._scale - scale
                low = min(low, self._offset >> own)
                high = max(high, (self._offset + len(self._counts) - 1) >> own)
            shift = shift_to_fit(low, high, self._max_size)
            scale -= shift
            if self._scale > scale:
                self._downscale(self._scale - scale)
            source, source_offset = downscaled(source, source_offset, other._scale - scale)
            self._cover(low >> shift, high >> shift)
            self._add_counts(source_offset - self._offset, source, self._count + other._count)
        self._count += other._count
        self._zero_count += other._zero_count
        self._sum += other._sum
        self._min = min(self._min, other._min)
        self._max = max(self._max, other._max)

    def copy(self) -> ExpSketch:
        """Return an independent copy."""
        clone = ExpSketch.__new__(ExpSketch)
        clone._max_size, clone._max_scale = self._max_size, self._max_scale
        clone._scale = self._scale
        clone._counts, clone._offset = self._counts[:], self._offset
        clone._count, clone._zero_count, clone._sum = self._count, self._zero_count, self._sum
        clone._min, clone._max = self._min, self._max
        return clone

    def quantile(self, q: float) -> float:
        """Estimate the ``q``-quantile; see ``ExpBuckets.quantiles`` for the rule and bound.

        Raises:
            ValueError: If ``q`` is not in ``[0, 1]``.
        """
        return self.quantiles((q,))[0]

    def quantiles(self, qs: Iterable[float]) -> tuple[float, ...]:
        """Estimate several quantiles in one pass; see ``ExpBuckets.quantiles``.

        Raises:
            ValueError: If a ``q`` is not in ``[0, 1]``.
        """
        return _quantiles_of(qs, *self._fields())

    def count_over(self, threshold: float) -> int:
        """Count values greater than ``threshold``; see ``ExpBuckets.count_over`` (rounding).

        Raises:
            ValueError: If ``threshold`` is NaN.
        """
        return _count_over_of(threshold, *self._fields())

    def _fields(self) -> tuple[array[int], int, int, int, int, float | None, float | None]:
        """The arguments the ``buckets`` reads take, from the live state."""
        low, high = (self._min, self._max) if self._count else (None, None)
        return self._counts, self._offset, self._scale, self._zero_count, self._count, low, high

    def buckets(self) -> ExpBuckets:
        """Return the export view of the current state (a snapshot, not a live view)."""
        empty = self._count == 0
        return ExpBuckets(
            scale=self._scale,
            offset=self._offset if self._counts else 0,
            counts=tuple(self._counts),
            zero_count=self._zero_count,
            count=self._count,
            sum=self._sum,
            min=None if empty else self._min,
            max=None if empty else self._max,
        )

    def delta_since(self, earlier: ExpSketch) -> ExpBuckets:
        """Return the values added since ``earlier`` was copied from this sketch.

        Same as ``self.buckets().minus(earlier.buckets())``: for delta temporality, keep a
        ``copy()`` of the cumulative sketch at each export and pass it at the next one.

        Raises:
            ValueError: If ``earlier`` holds values this sketch does not.
        """
        return self.buckets().minus(earlier.buckets())

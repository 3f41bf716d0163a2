"""Received OTLP exponential histograms as ``ExpBuckets``, and back into mergeable sketches.

``ExpSketch.merge`` is the exact merge of two OTel base-2 exponential histograms (it downscales
to the common scale), so the fleet view merges what processes send through it. A received data
point first has to become a sketch: :func:`sketch_of` adds each bucket's logarithmic midpoint as
many times as the bucket counts, into a sketch whose highest scale is the point's scale. The
midpoint maps back to its own bucket, so the sketch holds exactly the received bucket counts
(tests check it); only ``min``/``max`` are approximate unless the point carried exact ones. The
cost is O(count), about 0.4 µs per value; the fleet view converts only deltas between two
exports, so each request is converted once.
"""

from __future__ import annotations

from itertools import repeat

from otelperf._receiver import MetricPoint
from otelperf.aggregates import MAX_SCALE, MIN_SCALE, ExpBuckets, ExpSketch, bucket_index, midpoint

__all__ = ["buckets_of", "sketch_of"]


def buckets_of(point: MetricPoint) -> ExpBuckets | None:
    """The positive buckets of an exponential-histogram point, or None if it cannot be one.

    Durations are never negative: a point with negative buckets, an out-of-range scale or
    counts that do not add up is rejected (None) rather than guessed at.
    """
    if point.type != "exponential_histogram" or point.scale is None:
        return None
    if any(point.negative_bucket_counts):
        return None
    try:
        return ExpBuckets(
            scale=point.scale,
            offset=point.positive_offset or 0,
            counts=point.positive_bucket_counts,
            zero_count=point.zero_count or 0,
            count=point.count or 0,
            sum=point.sum or 0.0,
            min=point.min,
            max=point.max,
        )
    except ValueError:
        return None


def sketch_of(buckets: ExpBuckets) -> ExpSketch:
    """Return a sketch holding exactly ``buckets``' counts (see the module docstring).

    ``min`` and ``max`` are used as values when they lie in the first and last non-empty
    bucket (exact values received with a point); otherwise those buckets get midpoints too.
    """
    sketch = ExpSketch(max_scale=max(MIN_SCALE, min(buckets.scale, MAX_SCALE)))
    sketch.add_many(repeat(0.0, buckets.zero_count))
    occupied = [(buckets.offset + k, n) for k, n in enumerate(buckets.counts) if n]
    if not occupied:
        return sketch
    first, last = occupied[0][0], occupied[-1][0]
    scale = buckets.scale
    # Exact extremes received with the point are used when they lie in the outer buckets; the
    # other values of those buckets are clamped to them so the sketch's min/max stay exact.
    low = buckets.min if _inside(buckets.min, first, scale) else None
    high = buckets.max if _inside(buckets.max, last, scale) else None
    for index, count in occupied:
        value = midpoint(index, scale)
        exact: list[float] = []
        if index == first and low is not None:
            exact.append(low)
            value = max(value, low)
        if index == last and high is not None and len(exact) < count:
            exact.append(high)
            value = min(value, high)
        sketch.add_many(exact)
        sketch.add_many(repeat(value, count - len(exact)))
    return sketch


def _inside(value: float | None, index: int, scale: int) -> bool:
    return value is not None and value > 0 and bucket_index(value, scale) == index

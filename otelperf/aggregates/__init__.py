"""Pure percentile core: OTel base-2 exponential sketches, sliding windows, a keyed store.

No ``opentelemetry`` import, no threads, no clock reads, no I/O: callers pass ``now_ns``.
"""

from otelperf.aggregates.buckets import ExpBuckets
from otelperf.aggregates.exponential import DEFAULT_MAX_SCALE, DEFAULT_MAX_SIZE, ExpSketch
from otelperf.aggregates.mapping import (
    MAX_SCALE,
    MIN_SCALE,
    bucket_index,
    lower_boundary,
    midpoint,
    relative_error,
)
from otelperf.aggregates.stats import OperationStats
from otelperf.aggregates.store import MIXED_KIND, OTHER_KEY, KeyedWindows
from otelperf.aggregates.windows import SlidingWindow, WindowData

__all__ = [
    "DEFAULT_MAX_SCALE",
    "DEFAULT_MAX_SIZE",
    "MAX_SCALE",
    "MIN_SCALE",
    "MIXED_KIND",
    "OTHER_KEY",
    "ExpBuckets",
    "ExpSketch",
    "KeyedWindows",
    "OperationStats",
    "SlidingWindow",
    "WindowData",
    "bucket_index",
    "lower_boundary",
    "midpoint",
    "relative_error",
]

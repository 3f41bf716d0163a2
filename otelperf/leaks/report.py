"""What the leak analysis reports: verdicts, growth reports and the culprits deep mode names.

Plain frozen data, no behaviour: alerts, metrics and exporters read these without importing the
analysis itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

__all__ = ["BYTES_PER_MB", "AllocationSite", "GrowthReport", "TypeGrowth", "Verdict"]

BYTES_PER_MB = 1 << 20
"""A "MB" in otelperf is a MiB (2**20 bytes), as in ``free -m`` or Kubernetes ``Mi``."""


class Verdict(str, Enum):
    """What the trend says. Compares equal to its string value (``Verdict.STABLE == "stable"``)."""

    INSUFFICIENT_DATA = "insufficient_data"
    """Fewer than ``min_samples`` points after warm-up: nothing is claimed."""
    STABLE = "stable"
    """No sustained growth above the threshold (flat, sawtooth, or a step that has levelled off)."""
    GROWING = "growing"
    """The recent half grows faster than the threshold, but not (yet) sustained over the window."""
    LEAK_SUSPECTED = "leak_suspected"
    """Steady growth above the threshold across the whole window."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AllocationSite:
    """A source line whose live allocations grew (from tracemalloc snapshots).

    Attributes:
        file: Source file of the allocating frame.
        line: Line number in ``file``.
        size_diff_bytes: Growth of the live bytes allocated from this line between snapshots.
        count_diff: Growth of the number of live blocks allocated from this line.
        size_bytes: Bytes allocated from this line that are alive in the newer snapshot.
    """

    file: str
    line: int
    size_diff_bytes: int
    count_diff: int
    size_bytes: int


@dataclass(frozen=True, slots=True, kw_only=True)
class TypeGrowth:
    """An object type whose number of live GC-tracked instances grew.

    Attributes:
        type_name: ``module.QualName`` of the type.
        count_diff: Growth of the instance count between the two counts.
        count: Instances alive at the newer count.
    """

    type_name: str
    count_diff: int
    count: int


@dataclass(frozen=True, slots=True, kw_only=True)
class GrowthReport:
    """The analyzer's view of one memory series at one point in time.

    ``otelperf.processors.leaks.MemoryMonitor`` fills ``top_sites`` and ``top_types`` in
    deep mode, so a ``leak`` alert can name the leaking line.

    Attributes:
        verdict: See :class:`Verdict`.
        slope_bytes_per_s: Theil-Sen slope of the series' floor (running minimum) over the retained
            window; 0.0 with fewer than 2 points.
        growth_mb_per_h: ``slope_bytes_per_s`` in MB (MiB) per hour.
        recent_slope_bytes_per_s: The same slope over the latest half of the window.
        rate_bytes_per_s: The current growth rate, behind ``eta_s`` and a leak alert's figure:
            for leak_suspected the larger of the two slopes (a leak that began inside the window
            grows faster than the whole window's trend says), for growing the recent slope, else
            0.0.
        confidence: Fraction of the floor's pairwise slopes that are positive, in [0, 1], ties
            counted half: 0.5 means no trend, 1.0 a rise between every pair; 0.0 below 2 points.
        samples: Points the trend is computed from (after warm-up and decimation).
        span_s: Time between the first and the last of those points.
        level_bytes: Current level: the 90th percentile of the recent points projected to now along
            the growth rate (peaks, not averages, hit a limit); ``None`` with no points.
        eta_s: Seconds until ``limit_bytes`` is reached at the current growth rate; ``None``
            unless the verdict is growing or leak_suspected and a limit is known; 0.0 when already
            reached.
        limit_bytes: The limit the ETA refers to, if known.
        top_sites: Fastest-growing allocation sites (deep mode only; else empty).
        top_types: Fastest-growing object types (deep mode only; else empty).
    """

    verdict: Verdict
    slope_bytes_per_s: float
    growth_mb_per_h: float
    recent_slope_bytes_per_s: float
    rate_bytes_per_s: float
    confidence: float
    samples: int
    span_s: float
    level_bytes: int | None
    eta_s: float | None
    limit_bytes: int | None
    top_sites: tuple[AllocationSite, ...] = ()
    top_types: tuple[TypeGrowth, ...] = ()

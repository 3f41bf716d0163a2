"""Memory growth analysis: a robust trend over timestamped samples and a leak verdict.

Pure: no clocks, threads, I/O or OpenTelemetry. Samples carry their own timestamps, so tests drive
the analyzer with plain numbers. A :class:`GrowthAnalyzer` is single-threaded; its owner
(``otelperf.processors.leaks.MemoryMonitor``) is the only caller.

How a verdict is reached. Slopes are Theil-Sen (the median of the slopes between every pair of
points: unmoved by outliers and by a single step), taken on the *floor* of the series: its running
minimum over ``window_s / (2 * segments)`` (5 min for a 1 h window). A GC sawtooth shorter than
that is flattened to its troughs, while a leak lifts the troughs with everything else.

- ``slope`` covers the whole window, ``recent slope`` its latest half; ``confidence`` is the
  fraction of the floor's pairwise slopes that are positive (0.5 means no trend).
- A **leak** needs all of: a slope of at least ``min_growth_mb_per_h``; growth still going on in
  the recent half, at no less than half the window's pace (a saturating cache warm-up slows down,
  a leak does not); ``confidence >= min_confidence``; data covering (90 % of) the whole window, so
  that a young process's history (start-up creep, then a cache filling) is never judged on a
  fraction of the window where one ramp fills half of it;
  and a *steady* rise: the minima of ``segments`` time slices rise from nearly every slice to the
  next, each of those rises carrying at least a quarter of the mean increment, and no single
  increment carries half of the total rise (a step after cache warm-up puts all of its rise into
  one increment; a ramp over two slices leaves the others with slow creep at most).
- **Growing** means the recent half alone passes the slope, confidence and steadiness tests (on
  three slices) while the whole window does not: a young process, a warm-up still under way.
- Anything else with enough samples is **stable**, including a step that has levelled off.

The forecast divides the headroom below a limit by the *current* rate: for a leak the larger of
the two slopes (a leak that began a while into the window, after a flat stretch, grows faster than
the whole window's median slope says, and a sooner ETA is the safer error), for growth the recent
slope.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from otelperf.leaks._stats import running_floor, steady_rise, theil_sen, upper_level
from otelperf.leaks.report import BYTES_PER_MB, GrowthReport, Verdict

__all__ = ["GrowthAnalyzer"]

_NS_PER_S = 1_000_000_000
_S_PER_H = 3600.0
_MAX_BYTES = 1 << 63  # beyond any address space; keeps float arithmetic finite
# The recent half must keep growing at >= this share of the window slope: a saturating cache warm-up
# has a steep start and a flat end, a leak grows at the same pace throughout.
_RECENT_SHARE = 0.5
# Steadiness: no slice-to-slice rise of the minima may carry more than this share of the total rise.
# A step puts ~100 % into one increment; a steady leak spreads it evenly (20 % each with 6 slices).
_MAX_STEP_SHARE = 0.5
# An increment counts as a rise only if it carries at least a quarter of the mean increment
# (5 % of the total rise with 6 slices). Slow creep (allocator fragmentation, a warming process)
# lifts every slice a little; without this floor a ramp over two slices between stretches of creep
# would read as steady growth.
_MIN_STEP_OF_MEAN = 0.25
# The recent half is judged on 3 slices (2 increments, ~50 % each), so it tolerates more noise.
_RECENT_SLICES = 3
_MAX_STEP_SHARE_RECENT = 0.75
# A leak is judged on a full window; 10 % slack for sampling jitter and the decimation spacing.
_MIN_COVER = 0.9
# Peaks, not averages, hit a limit: the level is this quantile of the recent points.
_LEVEL_QUANTILE = 0.9


@dataclass(frozen=True, slots=True)
class _Trend:
    verdict: Verdict
    slope: float
    recent_slope: float
    confidence: float
    samples: int
    span_s: float
    rate: float  # bytes/s now (GrowthReport.rate_bytes_per_s): 0.0 unless growing or a leak
    level: float | None


_NO_DATA = _Trend(Verdict.INSUFFICIENT_DATA, 0.0, 0.0, 0.0, 0, 0.0, 0.0, None)


class GrowthAnalyzer:
    """Robust growth trend and leak verdict for one memory series (RSS, USS, heap... in bytes).

    Not thread-safe: one owner feeds it with :meth:`add` and reads :meth:`report`. Memory is
    bounded: at most ``max_points`` points, one per ``window_s / max_points`` seconds; samples that
    come faster are left out of the trend and counted in :attr:`decimated`. A report costs
    O(max_points²), about 1 ms of CPU for 120 points, recomputed only after a point was added.
    """

    def __init__(
        self,
        *,
        window_s: float = 3600.0,
        warmup_s: float = 300.0,
        min_growth_mb_per_h: float = 10.0,
        min_samples: int = 24,
        max_points: int = 120,
        segments: int = 6,
        min_confidence: float = 0.7,
    ) -> None:
        """Check and store the settings.

        Args:
            window_s: Trend window; older points are forgotten.
            warmup_s: Samples in the first ``warmup_s`` after the first sample are ignored
                (start-up, imports, caches filling).
            min_growth_mb_per_h: Growth below this is never growing nor a leak.
            min_samples: Points needed after warm-up for any verdict but insufficient_data.
            max_points: Cap on retained points (the cost is quadratic in it).
            segments: Time slices of the steadiness test; the floor is the running minimum over
                ``window_s / (2 * segments)``.
            min_confidence: Share of rising pairwise slopes that growth and leaks need, in
                (0.5, 1].

        Raises:
            ValueError: On a non-positive or non-finite window, a negative warm-up or threshold,
                fewer than 3 segments, ``min_samples < 2 * segments``, ``max_points <
                min_samples``, or a confidence outside (0.5, 1].
        """
        if not (window_s > 0 and math.isfinite(window_s * _NS_PER_S)):
            raise ValueError(f"window_s={window_s!r}: expected a finite number > 0")
        if not (warmup_s >= 0 and math.isfinite(warmup_s)):
            raise ValueError(f"warmup_s={warmup_s!r}: expected a finite number >= 0")
        if not (min_growth_mb_per_h >= 0 and math.isfinite(min_growth_mb_per_h)):
            raise ValueError(f"min_growth_mb_per_h={min_growth_mb_per_h!r}: expected a number >= 0")
        if segments < 3:
            raise ValueError(f"segments={segments!r}: expected an integer >= 3")
        if min_samples < 2 * segments:
            raise ValueError(
                f"min_samples={min_samples!r}: expected >= 2 * segments ({2 * segments})"
            )
        if max_points < min_samples:
            raise ValueError(f"max_points={max_points!r}: expected >= min_samples ({min_samples})")
        if not 0.5 < min_confidence <= 1.0:
            raise ValueError(f"min_confidence={min_confidence!r}: expected a number in (0.5, 1]")
        self._window_ns = int(window_s * _NS_PER_S)
        self._warmup_ns = int(warmup_s * _NS_PER_S)
        self._spacing_ns = self._window_ns // max_points
        self._floor_width_s = window_s / (2 * segments)
        self._threshold = min_growth_mb_per_h * BYTES_PER_MB / _S_PER_H  # bytes/s
        self._min_samples = min_samples
        self._segments = segments
        self._min_confidence = min_confidence
        # +1: the newest point can arrive one spacing before the oldest one leaves the window.
        self._points: deque[tuple[int, int]] = deque(maxlen=max_points + 1)
        self._first_ns: int | None = None
        self._last_ns: int | None = None
        self._trend: _Trend | None = None  # cache; cleared whenever the points change
        self._decimated = 0
        self._rejected = 0

    @property
    def decimated(self) -> int:
        """Samples left out of the trend because they came faster than one per spacing."""
        return self._decimated

    @property
    def rejected(self) -> int:
        """Samples dropped as out of order (timestamp not after the last) or out of range."""
        return self._rejected

    def add(self, *, timestamp_ns: int, value_bytes: int) -> None:
        """Feed one sample. Never raises: out-of-order or negative samples are counted and dropped.

        Args:
            timestamp_ns: Monotonic timestamp of the sample.
            value_bytes: The measured value in bytes; values outside [0, 2**63] are dropped.
        """
        if not 0 <= value_bytes <= _MAX_BYTES or (
            self._last_ns is not None and timestamp_ns <= self._last_ns
        ):
            self._rejected += 1
            return
        self._last_ns = timestamp_ns
        if self._first_ns is None:
            self._first_ns = timestamp_ns
        if timestamp_ns - self._first_ns < self._warmup_ns:
            return
        points = self._points
        if points and timestamp_ns - points[-1][0] < self._spacing_ns:
            self._decimated += 1
            return
        points.append((timestamp_ns, value_bytes))
        while timestamp_ns - points[0][0] > self._window_ns:
            points.popleft()
        self._trend = None

    def reset(self) -> None:
        """Forget every sample and restart warm-up (e.g. in a forked child)."""
        self._points.clear()
        self._first_ns = self._last_ns = self._trend = None
        self._decimated = self._rejected = 0

    def report(
        self, *, limit_bytes: int | None = None, usage_bytes: int | None = None
    ) -> GrowthReport:
        """Analyse the retained window. Never raises.

        Args:
            limit_bytes: The limit the series grows towards (cgroup, rlimit), for the ETA.
            usage_bytes: Current usage counted against that limit when it is not the analysed series
                itself (e.g. virtual size against ``RLIMIT_AS``); defaults to the series' level.

        Returns:
            The current :class:`~otelperf.leaks.report.GrowthReport`.
        """
        if self._trend is None:
            self._trend = self._analyse()
        trend = self._trend
        usage = usage_bytes if usage_bytes is not None else trend.level
        eta_s = None
        if limit_bytes is not None and usage is not None and trend.rate > 0:
            eta_s = max(0.0, (limit_bytes - usage) / trend.rate)
        return GrowthReport(
            verdict=trend.verdict,
            slope_bytes_per_s=trend.slope,
            growth_mb_per_h=trend.slope * _S_PER_H / BYTES_PER_MB,
            recent_slope_bytes_per_s=trend.recent_slope,
            rate_bytes_per_s=trend.rate,
            confidence=trend.confidence,
            samples=trend.samples,
            span_s=trend.span_s,
            level_bytes=None if trend.level is None else round(trend.level),
            eta_s=eta_s,
            limit_bytes=limit_bytes,
        )

    def _analyse(self) -> _Trend:
        n = len(self._points)
        if n == 0:
            return _NO_DATA
        # Seconds since the first point: small floats keep the pairwise arithmetic exact enough.
        t0 = self._points[0][0]
        ts = [(t - t0) / _NS_PER_S for t, _ in self._points]
        ys = [float(y) for _, y in self._points]
        floor = running_floor(ts, ys, width_s=self._floor_width_s)
        half = n // 2
        slope, confidence = theil_sen(ts, floor)
        recent_slope, recent_confidence = theil_sen(ts[half:], floor[half:])
        verdict, rate = Verdict.INSUFFICIENT_DATA, 0.0
        if n >= self._min_samples:
            verdict = Verdict.STABLE
            threshold = max(self._threshold, 1e-12)  # a zero threshold still needs a rise
            if (
                slope >= threshold
                and recent_slope >= _RECENT_SHARE * slope
                and confidence >= self._min_confidence
                and ts[-1] * _NS_PER_S >= _MIN_COVER * self._window_ns
                and steady_rise(
                    ts,
                    ys,
                    slices=self._segments,
                    max_share=_MAX_STEP_SHARE,
                    min_share=_MIN_STEP_OF_MEAN / (self._segments - 1),
                )
            ):
                verdict, rate = Verdict.LEAK_SUSPECTED, max(slope, recent_slope)
            elif (
                recent_slope >= threshold
                and recent_confidence >= self._min_confidence
                and steady_rise(
                    ts[half:],
                    ys[half:],
                    slices=_RECENT_SLICES,
                    max_share=_MAX_STEP_SHARE_RECENT,
                )
            ):
                verdict, rate = Verdict.GROWING, recent_slope
        level = upper_level(ts[half:], ys[half:], rate=rate, quantile=_LEVEL_QUANTILE)
        return _Trend(verdict, slope, recent_slope, confidence, n, ts[-1], rate, level)

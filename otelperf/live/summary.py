"""Turn a :class:`Timeline` and all-time sketches into report records; spot regressions.

Shared by the fleet view (``otelperf demo``/``top``) and the in-process ``otelperf.report()``.
Pure: no ``opentelemetry`` import, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from otelperf.aggregates import ExpSketch, lower_boundary
from otelperf.live.timeline import Timeline
from otelperf.report.model import (
    Distribution,
    OperationReport,
    OperationSummary,
    Regression,
    SeriesPoint,
)

__all__ = ["Totals", "find_regressions", "histogram_of", "operation_reports"]

_MS = 1e3
_QUANTILES = (0.5, 0.9, 0.95, 0.99)
_MEDIAN_SHIFT = 1.5  # a regression moves the bulk of requests, not only the tail


@dataclass
class Totals:
    """All-time accumulators of one operation: its kind, sketch (seconds) and exact maximum."""

    kind: str
    sketch: ExpSketch = field(default_factory=ExpSketch)
    max_s: float = math.nan
    """Largest duration reported exactly by a source (NaN if none did)."""


def operation_reports(
    timeline: Timeline,
    totals: Mapping[str, Totals],
    *,
    states: Mapping[str, str] | None = None,
) -> tuple[OperationReport, ...]:
    """One :class:`OperationReport` per operation with data, sorted by name.

    Counts and percentiles come from ``totals``; rates per second, error rates and the series
    from ``timeline``. ``states`` maps operations to their final budget state.
    """
    span = timeline.span()
    duration_s = (span[1] - span[0]) if span else 0.0
    out = []
    for name in sorted(totals):
        total = totals[name]
        sketch = total.sketch
        if sketch.count == 0:
            continue
        whole = timeline.read(name, -math.inf, math.inf)
        rate = whole.errors / whole.sketch.count if whole.sketch.count else 0.0
        p50, p90, p95, p99 = (v * _MS for v in sketch.quantiles(_QUANTILES))
        max_s = total.max_s if math.isfinite(total.max_s) else sketch.max
        summary = OperationSummary(
            operation=name,
            kind=total.kind,
            count=sketch.count,
            errors=round(rate * sketch.count, 1),
            error_rate=rate,
            errors_estimated=whole.errors_estimated,
            rps=whole.sketch.count / duration_s if duration_s > 0 else 0.0,
            min_ms=sketch.min * _MS,
            mean_ms=min(max(sketch.sum / sketch.count, sketch.min), sketch.max) * _MS,
            p50_ms=p50,
            p90_ms=p90,
            p95_ms=p95,
            p99_ms=p99,
            max_ms=max(max_s, sketch.max) * _MS,
            budget_state=(states or {}).get(name, ""),
        )
        series = tuple(
            SeriesPoint(
                t_s=b.start_s,
                width_s=b.width_s,
                count=b.count,
                error_rate=b.error_rate,
                p50_ms=b.p50_s * _MS,
                p95_ms=b.p95_s * _MS,
                p99_ms=b.p99_s * _MS,
            )
            for b in timeline.bins(name)
            if b.count
        )
        out.append(
            OperationReport(summary=summary, series=series, distribution=histogram_of(sketch))
        )
    return tuple(out)


def histogram_of(sketch: ExpSketch) -> Distribution:
    """The non-empty buckets of ``sketch`` (seconds) as a distribution in milliseconds."""
    buckets = sketch.buckets()
    lower, upper, counts = [], [], []
    if buckets.zero_count:
        lower.append(0.0)
        upper.append(0.0)
        counts.append(buckets.zero_count)
    for k, n in enumerate(buckets.counts):
        if n:
            index = buckets.offset + k
            lower.append(lower_boundary(index, buckets.scale) * _MS)
            upper.append(lower_boundary(index + 1, buckets.scale) * _MS)
            counts.append(n)
    return Distribution(lower_ms=tuple(lower), upper_ms=tuple(upper), counts=tuple(counts))


def find_regressions(
    timeline: Timeline, *, factor: float = 2.0, share: float = 0.3, min_count: int = 20
) -> tuple[Regression, ...]:
    """Operations whose p95 over the last ``share`` of their active time is ``factor`` x the first.

    Each operation is judged on its own span, from its first to its last non-empty bin; both
    ends need ``min_count`` requests, and the median must have grown 1.5x as well. A step change
    of the bulk of requests partway through a run shows up; a tail-only change does not (the
    budgets catch those), and neither does the chance jump of a heavy-tailed route's p95.
    """
    found = []
    for name in timeline.operations():
        active = [b for b in timeline.bins(name) if b.count]
        if len(active) < 3:
            continue
        start, end = active[0].start_s, active[-1].start_s + active[-1].width_s
        edge = (end - start) * share
        before = timeline.read(name, start, start + edge).sketch
        after = timeline.read(name, end - edge, end).sketch
        if before.count < min_count or after.count < min_count:
            continue
        before_p50, before_p95 = (v * _MS for v in before.quantiles((0.5, 0.95)))
        after_p50, after_p95 = (v * _MS for v in after.quantiles((0.5, 0.95)))
        # The median must move too: p95 alone of a few hundred requests jumps between the modes
        # of a bimodal route by chance (a 2.5 % tail is "p95" in one segment and not the next).
        shifted = before_p50 > 0 and after_p50 >= _MEDIAN_SHIFT * before_p50
        if shifted and before_p95 > 0 and after_p95 >= factor * before_p95:
            found.append(
                Regression(
                    operation=name,
                    before_p95_ms=before_p95,
                    after_p95_ms=after_p95,
                    ratio=after_p95 / before_p95,
                )
            )
    return tuple(found)

"""``otelperf.report()``: a report of this process, from the configured otelperf's store.

What is in it:

* per operation, all-time count, exact errors and percentiles, and the latency distribution,
  from the percentile store's cumulative sketches;
* percentiles, rates and budget states over time, and the process's resident memory, from a
  :class:`History` that samples the store every ``interval_s`` (5 s) on the aggregator thread.
  Its series points are the sliding-window statistics at each sample (what ``otelperf.stats()``
  returned then); its budget states are judged by the same evaluator and rules as the live
  budgets, on the same windows.

The history starts when it is attached: :func:`start_history` right after ``configure()``
records from the start (the integration calls it), otherwise the first ``report()`` call attaches
it and earlier history is absent (the report says so).
"""

from __future__ import annotations

import threading
import time
import weakref
from collections import deque
from collections.abc import Mapping
from pathlib import Path

import psutil

from otelperf import _configure
from otelperf.aggregates import KeyedWindows, OperationStats
from otelperf.budgets import Budget

# Module imports, read at call time: otelperf.live.judge itself imports otelperf.report.model.
from otelperf.live import judge, summary
from otelperf.processors.aggregator import Aggregator
from otelperf.report.model import (
    BudgetPoint,
    MemoryPoint,
    OperationReport,
    OperationSummary,
    ReportData,
    SeriesPoint,
)
from otelperf.report.render import render_report

__all__ = ["History", "report", "start_history"]

_MS = 1e3
_QUANTILES = (0.5, 0.9, 0.95, 0.99)
_histories: weakref.WeakKeyDictionary[Aggregator, History] = weakref.WeakKeyDictionary()
_lock = threading.Lock()  # guards _histories: report() may race from several threads


class History:
    """A tick hook recording window statistics, budget states and memory every ``interval_s``.

    Runs on the aggregator thread under the store lock; each sample costs one ``all_stats`` call
    (cached by the store while an operation is unchanged), one budget evaluation and one RSS
    read. Memory is bounded: ``max_points`` samples of at most ``max_operations`` operations.
    """

    def __init__(
        self,
        *,
        budgets: tuple[Budget, ...] = (),
        window_s: float = 60.0,
        interval_s: float = 5.0,
        max_points: int = 720,
        max_operations: int = 50,
    ) -> None:
        """Create an empty history (one hour at the defaults)."""
        self.started_s = time.time()
        self.interval_s = interval_s
        self._interval_ns = round(interval_s * 1e9)
        self._next_ns = 0
        self._max_operations = max_operations
        self._lock = threading.Lock()  # guards the deques below (the hook writes, report reads)
        self._points: deque[tuple[float, Mapping[str, OperationStats]]] = deque(maxlen=max_points)
        self._memory: deque[MemoryPoint] = deque(maxlen=max_points)
        self._judge = judge.FleetJudge(budgets, window_s=window_s, alert_interval_s=interval_s)
        self._process = psutil.Process()

    def __call__(self, now_ns: int, store: KeyedWindows) -> None:
        """The tick hook: take a sample when ``interval_s`` has passed since the last one."""
        if now_ns < self._next_ns:
            return
        self._next_ns = now_ns + self._interval_ns
        now_s = time.time()
        stats = store.all_stats(now_ns)
        kept = dict(list(stats.items())[: self._max_operations])
        rss = float(self._process.memory_info().rss)
        with self._lock:
            self._points.append((now_s, kept))
            self._memory.append(MemoryPoint(t_s=now_s, source="this process", rss_bytes=rss))
            self._judge.judge(now_s, stats)

    def series(self) -> dict[str, tuple[SeriesPoint, ...]]:
        """Per operation, one point per sample in which it had traffic in the window."""
        with self._lock:
            points = list(self._points)
        out: dict[str, list[SeriesPoint]] = {}
        for t_s, stats in points:
            for name, s in stats.items():
                out.setdefault(name, []).append(
                    SeriesPoint(
                        t_s=t_s,
                        width_s=s.window_s,
                        count=s.count,
                        error_rate=s.error_rate,
                        p50_ms=s.p50_ms,
                        p95_ms=s.p95_ms,
                        p99_ms=s.p99_ms,
                    )
                )
        return {name: tuple(series) for name, series in out.items()}

    def snapshot(self) -> tuple[tuple[MemoryPoint, ...], tuple[BudgetPoint, ...], dict[str, str]]:
        """Copies of the memory readings, the budget timeline and the latest budget states."""
        with self._lock:
            return tuple(self._memory), self._judge.timeline(), dict(self._judge.states())


HISTORY_INTERVAL_S = 5.0
"""Default seconds between two history points (``configure()`` starts the history)."""


def start_history(*, interval_s: float | None = None) -> History | None:
    """Record report history for the configured otelperf from now on; idempotent.

    ``configure()`` calls it, so the report's history starts with otelperf. ``interval_s``
    (default :data:`HISTORY_INTERVAL_S`) applies only to the first call.

    Returns the history, or None when otelperf is not configured (or the SDK is disabled).
    """
    handle = _configure.current()
    aggregator = None if handle is None else handle.aggregator
    if handle is None or aggregator is None:
        return None
    with _lock:
        history = _histories.get(aggregator)
        if history is None:
            history = _histories[aggregator] = History(
                budgets=handle.settings.budgets,
                window_s=aggregator.window_s,
                interval_s=HISTORY_INTERVAL_S if interval_s is None else interval_s,
            )
            aggregator.add_tick_hook(history)
    return history


def report(format: str = "json", path: str | Path | None = None) -> str:
    """Return (and with ``path``, also write) a report of this process's operations.

    Args:
        format: ``json``, ``csv`` (one row per operation) or ``html`` (a self-contained page with
            plots; needs ``plotly``, part of the ``demo`` extra).
        path: File to write the report to (UTF-8), if any.

    Raises:
        ValueError: ``format`` is not one of those.
        OSError: ``path`` cannot be written.
    """
    if format not in ("json", "csv", "html"):
        raise ValueError(f"otelperf.report(format={format!r}): expected 'json', 'csv' or 'html'")
    text = render_report(build_report(), format)
    if path is not None:
        Path(path).write_text(text, encoding="utf-8")
    return text


def build_report() -> ReportData:
    """The report data of the configured otelperf (an empty report before ``configure()``)."""
    now_s = time.time()
    handle = _configure.current()
    aggregator = None if handle is None else handle.aggregator
    if handle is None or aggregator is None:
        return ReportData(
            title="otelperf report",
            generated_s=now_s,
            started_s=now_s,
            ended_s=now_s,
            window_s=0.0,
            sources=1,
            notes=("otelperf is not configured: nothing was measured.",),
        )
    fresh = aggregator not in _histories
    history = start_history()
    assert history is not None
    cumulative = aggregator.with_store(_cumulative)
    series = history.series()
    memory, budgets, states = history.snapshot()
    operations = tuple(
        _operation(name, kind, stats, series.get(name, ()), states.get(name, ""))
        for name, (kind, stats) in sorted(cumulative.items())
    )
    notes = [
        f"Series points are the {aggregator.window_s:g} s sliding-window statistics, sampled "
        f"every {history.interval_s:g} s; regressions are not computed in-process."
    ]
    if fresh:
        notes.append(
            "History started with this report: call otelperf.report.start_history() "
            "after configure() to record from the start."
        )
    service = handle.settings.service_name or "this process"
    return ReportData(
        title=f"otelperf report: {service}",
        generated_s=now_s,
        started_s=history.started_s,
        ended_s=now_s,
        window_s=aggregator.window_s,
        sources=1,
        operations=operations,
        budgets=budgets,
        memory=memory,
        alerts=tuple(),
        notes=tuple(notes),
    )


def _cumulative(now_ns: int, store: KeyedWindows) -> dict[str, tuple[str, OperationStats]]:
    out = {}
    for name, data in store.all_cumulative(now_ns).items():
        if data.count:
            out[name] = (
                store.kind(name) or "internal",
                OperationStats.from_sketch(
                    operation=name,
                    kind=store.kind(name) or "internal",
                    sketch=data.sketch,
                    errors=data.errors,
                    window_s=max(data.span_s, 1e-9),
                ),
            )
    return out


def _operation(
    name: str, kind: str, stats: OperationStats, series: tuple[SeriesPoint, ...], state: str
) -> OperationReport:
    numbers = OperationSummary(
        operation=name,
        kind=kind,
        count=stats.count,
        errors=float(stats.errors),
        error_rate=stats.error_rate,
        errors_estimated=False,
        rps=stats.count / stats.window_s if stats.window_s > 1e-3 else 0.0,
        min_ms=stats.min_ms,
        mean_ms=stats.mean_ms,
        p50_ms=stats.p50_ms,
        p90_ms=stats.p90_ms,
        p95_ms=stats.p95_ms,
        p99_ms=stats.p99_ms,
        max_ms=stats.max_ms,
        budget_state=state,
    )
    distribution = summary.histogram_of(stats.sketch)
    return OperationReport(summary=numbers, series=series, distribution=distribution)

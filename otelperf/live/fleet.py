"""``FleetMerger``: what many processes export over OTLP, merged into one per-operation view.

Processes send ``otelperf.operation.duration`` as OTLP exponential histograms, usually
cumulative. A stream is one process's histogram of one operation (its resource attributes and
start time tell processes apart, also the gunicorn workers of one service); for each new
cumulative point the merger takes the difference from the stream's previous point
(``ExpBuckets.minus``), turns it into a sketch and adds it to the operation's :class:`Timeline`
and all-time total. Delta points are added as they are. Merging is the sketches' exact merge, so
a fleet percentile is as accurate as one process's (0.55 % at scale 6).

Error rates come from the exported spans (errors among sampled spans), resident memory from
``process.memory.usage`` points or from :meth:`FleetMerger.add_memory`, budget states from
judging the merged windows (:class:`FleetJudge`). Pure and single-threaded: the caller passes
times (Unix seconds) and serialises calls; :class:`~otelperf.live.pump.ReceiverPump` does both.
"""

from __future__ import annotations

import math
from collections import OrderedDict, deque
from collections.abc import Iterable
from dataclasses import dataclass

from otelperf._receiver import MetricPoint, SpanRecord
from otelperf.aggregates import ExpBuckets, OperationStats
from otelperf.budgets import Budget
from otelperf.live.buckets import buckets_of, sketch_of
from otelperf.live.judge import FleetJudge
from otelperf.live.summary import Totals, find_regressions, operation_reports
from otelperf.live.timeline import Timeline
from otelperf.report.model import AlertEntry, MemoryPoint, ReportData

__all__ = ["DURATION_METRIC", "MEMORY_METRIC", "OTHER", "FleetMerger", "OperationRow"]

DURATION_METRIC = "otelperf.operation.duration"
MEMORY_METRIC = "process.memory.usage"
OTHER = "otelperf.other"
"""Operations past ``max_operations`` are folded into this key, as the SDK side does."""

_MS = 1e3
_SOURCE_TTL_S = 30.0  # a process not heard from for this long no longer counts as live


@dataclass(frozen=True, slots=True)
class OperationRow:
    """One line of the live table: the window's numbers and the all-time count (ms, 1/s)."""

    operation: str
    kind: str
    total: int
    count: int
    rps: float
    error_rate: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    spark_ms: tuple[float, ...]
    state: str


class _Stream:
    __slots__ = ("last", "seen_s")

    def __init__(self, last: ExpBuckets, seen_s: float) -> None:
        self.last = last
        self.seen_s = seen_s


class FleetMerger:
    """Merge received points and spans per operation; read windows, rows and reports."""

    def __init__(
        self,
        *,
        window_s: float = 10.0,
        bin_s: float = 1.0,
        max_bins: int = 256,
        max_operations: int = 200,
        max_streams: int = 10_000,
        budgets: tuple[Budget, ...] = (),
        alert_interval_s: float = 5.0,
        memory_from_metrics: bool = True,
        started_s: float,
    ) -> None:
        """Create an empty merger.

        Args:
            window_s: Length of the live window (table rows and budget judging).
            bin_s: Starting width of the timeline bins.
            max_bins: Bound on timeline bins (the width doubles beyond it).
            max_operations: Distinct operations kept; the rest fold into ``otelperf.other``.
            max_streams: Bound on (process, operation) streams remembered; oldest go first.
            budgets: Budgets judged on the merged windows.
            alert_interval_s: Minimum time between two alerts about one budget and operation.
            memory_from_metrics: Take resident memory from received ``process.memory.usage``
                points (off when the caller samples the processes itself).
            started_s: When the merger started: history a process had accumulated before is
                counted in the totals but not in the rates.

        Raises:
            ValueError: A bound is out of range.
            ConfigError: A budget is invalid.
        """
        if not window_s > 0 or max_operations < 1 or max_streams < 1:
            raise ValueError("window_s, max_operations and max_streams must be positive")
        self.window_s = float(window_s)
        self.started_s = started_s
        self.timeline = Timeline(bin_s=bin_s, max_bins=max_bins)
        self._max_operations = max_operations
        self._max_streams = max_streams
        self._streams: OrderedDict[tuple[object, ...], _Stream] = OrderedDict()
        self._totals: dict[str, Totals] = {}
        self._sources: dict[object, float] = {}
        self._memory: dict[str, deque[MemoryPoint]] = {}
        self._memory_labels: dict[tuple[object, ...], str] = {}
        self._alerts: deque[AlertEntry] = deque(maxlen=500)
        self.judge = FleetJudge(budgets, window_s=window_s, alert_interval_s=alert_interval_s)
        self._memory_from_metrics = memory_from_metrics
        self.ignored_points = 0
        self.spans_seen = 0

    # -- input ----------------------------------------------------------------------------

    def add_points(self, points: Iterable[MetricPoint], received_s: float) -> None:
        """Merge the duration histograms and memory readings among ``points``."""
        for point in points:
            if point.name == DURATION_METRIC:
                self._add_duration(point, received_s)
            elif self._memory_from_metrics and point.name == MEMORY_METRIC and point.value:
                label = self._memory_label(point)
                self.add_memory(label, point.time_unix_ns / 1e9, float(point.value))

    def add_spans(self, spans: Iterable[SpanRecord]) -> None:
        """Count exported spans per operation and bin, and how many had an error status."""
        for span in spans:
            self.spans_seen += 1
            name = self._operation(span.name)
            if name in self._totals:
                self.timeline.add_spans(
                    name, span.end_unix_ns / 1e9, spans=1, errors=int(span.status_code == "ERROR")
                )

    def add_memory(self, source: str, t_s: float, rss_bytes: float) -> None:
        """Record one resident-memory reading of one process (at most 64 processes kept)."""
        series = self._memory.get(source)
        if series is None:
            if len(self._memory) >= 64:
                return
            series = self._memory[source] = deque(maxlen=2000)
        series.append(MemoryPoint(t_s=t_s, source=source, rss_bytes=rss_bytes))

    def add_alert(self, alert: AlertEntry) -> None:
        """Show an alert that arrived from elsewhere (e.g. a process's webhook)."""
        self._alerts.append(alert)

    def tick(self, now_s: float) -> list[AlertEntry]:
        """Judge the budgets on the current window; return (and keep) the new fleet alerts."""
        if not self.judge.active:
            return []
        alerts = self.judge.judge(now_s, self.window_stats(now_s))
        self._alerts.extend(alerts)
        return alerts

    # -- output ---------------------------------------------------------------------------

    def window_stats(self, now_s: float) -> dict[str, OperationStats]:
        """Merged statistics of every operation over the whole bins of the last ``window_s``.

        Each result's ``window_s`` is the span its bins cover (at most the window).
        """
        out = {}
        for name, total in self._totals.items():
            read = self.timeline.read(name, now_s - self.window_s, math.inf)
            if read.sketch.count:
                out[name] = OperationStats.from_sketch(
                    operation=name,
                    kind=total.kind,
                    sketch=read.sketch,
                    errors=round(read.errors),
                    window_s=max(read.span_s, 1e-9),
                )
        return out

    def rows(self, now_s: float, *, spark_bins: int = 20) -> list[OperationRow]:
        """The live table: one row per operation seen, busiest in the window first."""
        window = self.window_stats(now_s)
        states = self.judge.states()
        rows = []
        for name, total in self._totals.items():
            stats = window.get(name)
            spark = tuple(b.p99_s * _MS for b in self.timeline.bins(name, last=spark_bins))
            read_rate = stats.errors / stats.count if stats is not None else 0.0
            rows.append(
                OperationRow(
                    operation=name,
                    kind=total.kind,
                    total=total.sketch.count,
                    count=stats.count if stats else 0,
                    rps=(stats.count / stats.window_s) if stats else 0.0,
                    error_rate=read_rate,
                    p50_ms=stats.p50_ms if stats else math.nan,
                    p95_ms=stats.p95_ms if stats else math.nan,
                    p99_ms=stats.p99_ms if stats else math.nan,
                    spark_ms=spark,
                    state=states.get(name, ""),
                )
            )
        rows.sort(key=lambda r: (-r.count, r.operation))
        return rows

    def alerts(self) -> list[AlertEntry]:
        """Alerts kept (the newest 500), oldest first."""
        return list(self._alerts)

    def memory(self) -> dict[str, list[MemoryPoint]]:
        """Resident-memory readings per process, oldest first."""
        return {source: list(series) for source, series in self._memory.items()}

    def live_sources(self, now_s: float) -> int:
        """Processes heard from within the last 30 s."""
        return sum(1 for seen in self._sources.values() if now_s - seen <= _SOURCE_TTL_S)

    def report_data(self, *, title: str, now_s: float, notes: tuple[str, ...] = ()) -> ReportData:
        """Everything merged so far, as a report."""
        span = self.timeline.span()
        return ReportData(
            title=title,
            generated_s=now_s,
            started_s=span[0] if span else self.started_s,
            ended_s=span[1] if span else now_s,
            window_s=self.window_s,
            sources=len(self._sources),
            operations=operation_reports(self.timeline, self._totals, states=self.judge.states()),
            budgets=self.judge.timeline(),
            memory=tuple(p for series in self._memory.values() for p in series),
            alerts=tuple(self._alerts),
            regressions=find_regressions(self.timeline),
            notes=notes,
        )

    # -- internals ------------------------------------------------------------------------

    def _memory_label(self, point: MetricPoint) -> str:
        """``service pid N``, or ``service #n`` numbered by stream when the pid is not known."""
        resource = point.resource_attributes
        service = str(resource.get("service.name", "unknown_service"))
        pid = resource.get("process.pid")
        if pid is not None:
            return f"{service} pid {pid!s}"
        key = (tuple(sorted((k, str(v)) for k, v in resource.items())), point.start_unix_ns)
        label = self._memory_labels.get(key)
        if label is None:
            label = f"{service} #{len(self._memory_labels) + 1}"
            if len(self._memory_labels) < 64:
                self._memory_labels[key] = label
        return label

    def _operation(self, name: str) -> str:
        if name in self._totals or len(self._totals) < self._max_operations:
            return name
        return OTHER

    def _add_duration(self, point: MetricPoint, received_s: float) -> None:
        buckets = buckets_of(point)
        if buckets is None or point.temporality == "unspecified":
            self.ignored_points += 1
            return
        resource = tuple(sorted((k, str(v)) for k, v in point.resource_attributes.items()))
        cumulative = point.temporality == "cumulative"
        source = (resource, point.start_unix_ns) if cumulative else resource
        self._sources[source] = received_s
        name = self._operation(str(point.attributes.get("operation", "")))
        kind = str(point.attributes.get("span.kind", "internal"))
        delta, before_start = buckets, False
        if cumulative:
            key = (source, name, kind, point.attributes.get("operation"))
            stream = self._streams.get(key)
            delta = _difference(buckets, stream.last) if stream is not None else buckets
            before_start = stream is None and point.start_unix_ns / 1e9 < self.started_s - 1.0
            if stream is None:
                stream = self._streams[key] = _Stream(buckets, received_s)
                if len(self._streams) > self._max_streams:
                    self._streams.popitem(last=False)
            stream.last, stream.seen_s = buckets, received_s
            self._streams.move_to_end(key)
        if delta.count == 0:
            return
        total = self._totals.get(name)
        if total is None:
            total = self._totals[name] = Totals(kind=kind)
        sketch = sketch_of(delta)
        total.sketch.merge(sketch)
        if buckets.max is not None and cumulative:
            total.max_s = buckets.max if math.isnan(total.max_s) else max(total.max_s, buckets.max)
        if not before_start:  # a process's history from before we listened has no time bin
            self.timeline.add(name, point.time_unix_ns / 1e9, sketch, errors=None)


def _difference(now: ExpBuckets, before: ExpBuckets) -> ExpBuckets:
    """``now - before`` for two points of one cumulative stream; all of ``now`` after a reset."""
    if now.count < before.count:
        return now  # the stream restarted (same start time, fewer values): take it whole
    try:
        return now.minus(before)
    except ValueError:
        return now

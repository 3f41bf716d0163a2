"""Leak detection wired in: the memory monitor, the span-leak processor, their metrics and alerts.

Metrics (names and units are a contract with the dashboard, see
``otelperf/cli/_collector/metric_names.py``): ``process.memory.usage`` and
``process.memory.virtual`` (semconv, By), ``otelperf.memory.growth_rate`` (By/h),
``otelperf.leak.suspected`` (0/1) and ``otelperf.spans.unfinished`` ({span}, by ``span.name``).
All are read at collection time from the latest sample: nothing runs per span but the span-leak
registry's one dict operation in ``on_start``/``on_end``.

Choices, and why:

- Warm-up is a twelfth of ``leak_window_s``, at most 5 minutes: imports, connection pools and
  caches grow a young process for a few minutes; a leak is then judged on a whole window.
- ``leak_window_s`` must hold 30 samples: the analyzer needs 24, and a window that can never
  reach them would silently never detect anything. Settings resolution refuses such a window
  (``otelperf._settings.LEAK_MIN_SAMPLES``), naming where the value came from.
- ``leak`` alerts follow :class:`~otelperf.alerts.leak_alerts.LeakAlerter`: on entering
  ``leak_suspected``, on a higher severity (ETA to the memory limit under a day: error, under an
  hour: critical), when deep mode names another top line, and once when resolved; at most one per
  ``alert_interval_s``. A forked child starts with its own alerter.
- Deep mode profiles about 60 times per window (every minute by default); the monitor spaces
  profiles further apart when they are slow (large heaps), see ``MemoryMonitor``.
- The span registry is scanned on an aggregator tick every ``min(5 s, span_leak_after_s / 2)``:
  a span leak is reported within 1.5 thresholds, without a thread of its own. The tick runs under
  the aggregator's store lock, so a scan delays statistics readers by its length: about 2 ms for
  10 000 open spans, the registry's cap (``benchmarks/bench_span_leaks.py``).
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Iterable

from opentelemetry.metrics import CallbackOptions, Observation

from otelperf._safety import logger, never_raise
from otelperf._settings import Settings
from otelperf._wiring import Context
from otelperf.aggregates import KeyedWindows
from otelperf.alerts.leak_alerts import LeakAlerter, leak_alert, span_leak_alert
from otelperf.leaks import BYTES_PER_MB, GrowthAnalyzer, GrowthReport, Verdict
from otelperf.processors.leaks import MemoryMonitor
from otelperf.processors.memory import MemorySample
from otelperf.processors.span_leaks import (
    SPAN_NAME_ATTRIBUTE,
    UNFINISHED_METRIC,
    SpanLeakProcessor,
    SpanLeakReport,
)

__all__ = ["Leaks", "analyzer_for", "deep_every_for"]

# Warm-up is a twelfth of the leak window, at most 5 minutes (start-up, imports, caches filling).
_MAX_WARMUP_S = 300.0
# Deep mode profiles about 60 times per leak window (every minute for the default hour), and the
# monitor spaces profiles further apart on a large heap (see MemoryMonitor's deep_max_share).
_PROFILES_PER_WINDOW = 60
# How often the span-leak registry is scanned (on an aggregator tick; O(open spans)): every 5 s,
# or every half threshold when that is shorter, so a leak is reported within 1.5 thresholds.
_SPAN_SCAN_EVERY_S = 5.0
MEMORY_SHUTDOWN_TIMEOUT_S = 1.0


def analyzer_for(settings: Settings) -> GrowthAnalyzer:
    """The growth analyzer the settings ask for (warm-up: a twelfth of the window, <= 5 min)."""
    window_s = settings.leak_window_s
    return GrowthAnalyzer(
        window_s=window_s,
        warmup_s=min(_MAX_WARMUP_S, window_s / 12),
        min_growth_mb_per_h=settings.leak_min_growth_mb_per_h,
    )


def deep_every_for(settings: Settings) -> int:
    """Ticks between two deep-mode profiles: about ``leak_window_s / 60`` seconds, at least 1."""
    interval_s = settings.memory_interval_s or 1.0
    return max(1, round(settings.leak_window_s / _PROFILES_PER_WINDOW / interval_s))


class Leaks:
    """The memory monitor and the span-leak processor, as the settings ask.

    The constructor only checks; :meth:`start` starts the ``otelperf-memory`` thread, adds the
    span processor and registers the metrics. Nothing here raises into the application after
    :meth:`start`: a memory monitor that cannot start is logged and left out, a failing sample or
    alert is logged and dropped by the monitor.
    """

    def __init__(self, settings: Settings) -> None:
        """Check the settings (raises ``ConfigError``); build nothing that runs yet."""
        self._settings = settings
        analyzer_for(settings)  # the analyzer's own checks, now rather than after install
        self.memory: MemoryMonitor | None = None
        self.span_leaks: SpanLeakProcessor | None = None
        self._context: Context | None = None
        self._alerter = LeakAlerter(interval_s=settings.alert_interval_s)
        self._alerter_pid = os.getpid()
        self._next_scan_ns = 0

    @property
    def wants_alerts(self) -> bool:
        """True when this part may raise alerts."""
        settings = self._settings
        return settings.memory_interval_s is not None or settings.span_leak_after_s is not None

    def start(self, context: Context) -> list[Callable[[], object]]:
        """Start what the settings ask for; return the closers."""
        settings = self._settings
        self._context = context
        closers: list[Callable[[], object]] = []
        if settings.memory_interval_s is not None:
            self.memory = never_raise(self._new_monitor)(settings.memory_interval_s)
            if self.memory is None:
                logger.error("otelperf: memory monitoring could not start; leak detection is off")
            else:
                self._register_memory_metrics(context)
                closers.append(
                    functools.partial(self.memory.shutdown, timeout_s=MEMORY_SHUTDOWN_TIMEOUT_S)
                )
        if settings.span_leak_after_s is not None:
            self.span_leaks = SpanLeakProcessor(
                leak_after_s=settings.span_leak_after_s, on_leak=self._on_span_leak
            )
            context.tracer_provider.add_span_processor(self.span_leaks)
            context.meter.create_observable_gauge(
                UNFINISHED_METRIC,
                callbacks=[self._observe_unfinished],
                unit="{span}",
                description="Spans open longer than span_leak_after_s, by span name.",
            )
            context.aggregator.add_tick_hook(self._scan_spans)
            closers.append(self.span_leaks.shutdown)
        return closers

    # -- memory -----------------------------------------------------------------------------

    def _new_monitor(self, interval_s: float) -> MemoryMonitor:
        settings = self._settings
        return MemoryMonitor(
            interval_s=interval_s,
            analyzer=analyzer_for(settings),
            on_report=self._on_memory_report,
            deep=settings.leak_deep,
            deep_every=deep_every_for(settings),
        )

    def _register_memory_metrics(self, context: Context) -> None:
        meter = context.meter
        meter.create_observable_up_down_counter(
            "process.memory.usage",
            callbacks=[self._sample_callback(lambda s: s.rss_bytes)],
            unit="By",
            description="Resident memory of the process (RSS).",
        )
        meter.create_observable_up_down_counter(
            "process.memory.virtual",
            callbacks=[self._sample_callback(lambda s: s.vms_bytes)],
            unit="By",
            description="Virtual memory of the process.",
        )
        meter.create_observable_gauge(
            "otelperf.memory.growth_rate",
            callbacks=[self._report_callback(_growth_bytes_per_h)],
            unit="By/h",
            description="Robust growth trend of RSS over leak_window_s (0 until enough samples).",
        )
        meter.create_observable_gauge(
            "otelperf.leak.suspected",
            callbacks=[self._report_callback(_suspected)],
            unit="",
            description="1 while steady RSS growth above leak_min_growth_mb_per_h is seen, else 0.",
        )

    def _latest(self) -> tuple[GrowthReport, MemorySample] | None:
        return None if self.memory is None else self.memory.latest

    def _sample_callback(
        self, read: Callable[[MemorySample], int]
    ) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def observe(options: CallbackOptions) -> Iterable[Observation]:
            latest = self._latest()
            return [] if latest is None else [Observation(read(latest[1]))]

        return observe

    def _report_callback(
        self, read: Callable[[GrowthReport], float]
    ) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def observe(options: CallbackOptions) -> Iterable[Observation]:
            latest = self._latest()
            return [] if latest is None else [Observation(read(latest[0]))]

        return observe

    def _on_memory_report(self, report: GrowthReport, sample: MemorySample) -> None:
        """On the memory thread: let the alerter decide (see ``LeakAlerter``), then submit."""
        if sample.pid != self._alerter_pid:
            # A forked child judges its own memory from scratch: the parent's open alert is the
            # parent's to resolve.
            self._alerter = LeakAlerter(interval_s=self._settings.alert_interval_s)
            self._alerter_pid = sample.pid
        context = self._context
        decision = self._alerter.observe(report, now_ns=sample.timestamp_ns)
        if decision is None or context is None or context.alerts is None:
            return
        settings = self._settings
        context.alerts.submit(
            leak_alert(
                report,
                rss_bytes=sample.rss_bytes,
                threshold_mb_per_h=settings.leak_min_growth_mb_per_h,
                window_s=settings.leak_window_s,
                service=context.service,
                resource=context.resource_attributes,
                resolved=not decision,
            )
        )

    # -- spans ------------------------------------------------------------------------------

    def _scan_spans(self, now_ns: int, store: KeyedWindows) -> None:
        """Aggregator tick hook: scan the open-span registry every few seconds."""
        if self.span_leaks is None or now_ns < self._next_scan_ns:
            return
        every_s = min(_SPAN_SCAN_EVERY_S, (self._settings.span_leak_after_s or 0.0) / 2)
        self._next_scan_ns = now_ns + int(every_s * 1e9)
        self.span_leaks.check(time.monotonic_ns())

    def _on_span_leak(self, report: SpanLeakReport) -> None:
        context = self._context
        if context is None or context.alerts is None:
            return
        names = {leak.name: (leak.count, leak.oldest_age_s) for leak in report.names}
        context.alerts.submit(
            span_leak_alert(
                names,
                after_s=self._settings.span_leak_after_s or 0.0,
                service=context.service,
                resource=context.resource_attributes,
            )
        )

    def _observe_unfinished(self, options: CallbackOptions) -> Iterable[Observation]:
        if self.span_leaks is None:
            return []
        return [
            Observation(count, {SPAN_NAME_ATTRIBUTE: name})
            for name, count in self.span_leaks.unfinished().items()
        ]


def _growth_bytes_per_h(report: GrowthReport) -> float:
    return report.growth_mb_per_h * BYTES_PER_MB


def _suspected(report: GrowthReport) -> float:
    return 1.0 if report.verdict == Verdict.LEAK_SUSPECTED else 0.0

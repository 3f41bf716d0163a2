"""``Handle``: what ``configure()`` installed, and its bounded, idempotent shutdown.

The shutdown runs the closers ``configure()`` collected (leak threads, span pipeline, alerts,
final metric export) on a daemon thread and waits at most a deadline, so that a process whose
collector is down still exits in time. :func:`watch_exits` makes it run at interpreter exit, at
the end of a ``multiprocessing`` child and on SIGTERM.
"""

from __future__ import annotations

import atexit
import multiprocessing.util
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider

from otelperf._safety import logger, never_raise
from otelperf._settings import Settings
from otelperf._signals import flush_on_sigterm
from otelperf.alerts import AlertDispatcher
from otelperf.processors.aggregator import Aggregator
from otelperf.processors.budgets import BudgetMonitor
from otelperf.processors.leaks import MemoryMonitor
from otelperf.processors.span_leaks import SpanLeakProcessor
from otelperf.processors.tail_sampling import TailSamplingProcessor

__all__ = [
    "DEFAULT_SHUTDOWN_TIMEOUT_S",
    "FAILING_SHUTDOWN_TIMEOUT_S",
    "Handle",
    "run_bounded",
    "watch_exits",
]

DEFAULT_SHUTDOWN_TIMEOUT_S = 5.0
# When the last export already failed (collector down), the final flush will most likely fail
# too: wait this long at most, so that a gunicorn master and its workers, one after the other,
# still exit within the 5 s an orchestrator usually grants.
FAILING_SHUTDOWN_TIMEOUT_S = 1.0


@dataclass(eq=False)
class Handle:
    """What ``configure()`` installed. Returned again by a second ``configure()`` call.

    Attributes:
        settings: The resolved settings.
        tracer_provider: The tracer provider otelperf uses (its own SDK one, or the one it
            attached to); None when otelperf is not active (``OTEL_SDK_DISABLED=true``, or
            another provider that takes no span processors was installed first).
        meter_provider: The meter provider otelperf's metrics go through (None when inactive).
        attached: True when otelperf attached to providers someone else installed.
        aggregator: The percentile store's owner (None when inactive).
        budgets: Judges budgets, SLOs and regressions on the aggregator's ticks; None when
            there are no budgets and ``regression_factor`` is ``off`` (or when inactive).
        alerts: Delivers alerts to the ``alerts`` sinks; None when there are none (or nothing
            could raise one).
        memory: Samples memory and judges its growth; None when ``memory_interval_s`` is off.
        span_leaks: Tracks open spans; None when ``span_leak_after_s`` is off.
        tail_sampler: Decides which local traces are exported; None unless ``tail_sampling``
            is on (and otelperf installed the tracer provider).
    """

    settings: Settings
    tracer_provider: trace.TracerProvider | None
    meter_provider: MeterProvider | None
    attached: bool
    aggregator: Aggregator | None = None
    budgets: BudgetMonitor | None = None
    alerts: AlertDispatcher | None = None
    memory: MemoryMonitor | None = None
    span_leaks: SpanLeakProcessor | None = None
    tail_sampler: TailSamplingProcessor | None = None
    _closers: list[Callable[[], object]] = field(default_factory=list, repr=False)
    _exporters: list[object] = field(default_factory=list, repr=False)
    # What `alerts` was given as (sinks have no value equality: a second configure() compares
    # the inputs).
    _alerts_input: object = field(default=None, repr=False)
    # Guards _closing. Re-entrant: a SIGTERM handler may call shutdown() on the main thread
    # while that thread is already inside shutdown() (atexit).
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    _closing: int | None = field(default=None, repr=False)  # the thread id of the first call
    _done: threading.Event = field(default_factory=threading.Event, repr=False)
    _result: bool = field(default=False, repr=False)

    def shutdown(self, *, timeout_s: float = DEFAULT_SHUTDOWN_TIMEOUT_S) -> bool:
        """Flush and stop what otelperf owns; idempotent and bounded by ``timeout_s``.

        Runs the SDK's shutdown in a daemon thread and waits at most ``timeout_s``: with the
        collector down, exporters may retry for their own timeout, and the process must still
        exit in time. When the last export already failed, it waits at most
        ``FAILING_SHUTDOWN_TIMEOUT_S``. Returns True when everything finished within the
        timeout. Later calls return the first call's result (waiting at most ``timeout_s`` for
        it when it is still running on another thread).
        """
        with self._lock:
            first = self._closing is None
            if first:
                self._closing = threading.get_ident()
        if not first:
            if self._closing != threading.get_ident():
                self._done.wait(timeout_s)
            return self._result if self._done.is_set() else False
        if self._export_failing():
            timeout_s = min(timeout_s, FAILING_SHUTDOWN_TIMEOUT_S)
        # In order: spans first (they feed the percentile store), then the final metric export.
        finished = run_bounded(list(self._closers), timeout_s)
        if not finished:
            logger.warning("otelperf shutdown did not finish within %.1f s; going on", timeout_s)
        self._result = finished
        self._done.set()
        return finished

    def _export_failing(self) -> bool:
        """True when the last export of one of otelperf's exporters failed."""
        return any(not getattr(e, "last_ok", True) for e in self._exporters)


def run_bounded(closers: list[Callable[[], object]], timeout_s: float) -> bool:
    """Run ``closers`` in order on a daemon thread; True when they finished within the time."""
    worker = threading.Thread(
        target=_run_all, args=(closers,), name="otelperf-shutdown", daemon=True
    )
    worker.start()
    worker.join(timeout_s)
    return not worker.is_alive()


def _run_all(closers: list[Callable[[], object]]) -> None:
    for close in closers:
        never_raise(close)()


def watch_exits(handle: Handle) -> None:
    """Run ``handle.shutdown`` at exit: of the interpreter, of a ``multiprocessing`` child.

    Also on SIGTERM, when the application does not handle SIGTERM itself (:mod:`otelperf._signals`).
    """
    atexit.register(handle.shutdown)
    multiprocessing.util.register_after_fork(handle, _flush_at_child_exit)
    flush_on_sigterm(handle.shutdown)


def _flush_at_child_exit(handle: Handle) -> None:
    """In a ``multiprocessing`` child: run the bounded shutdown when the child leaves.

    Such children end with ``os._exit``, so ``atexit`` (and our shutdown) never runs there and
    whatever the child measured or queued since its last export would be lost.
    """
    multiprocessing.util.Finalize(handle, handle.shutdown, exitpriority=100)

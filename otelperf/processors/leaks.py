"""The ``otelperf-memory`` thread: sample memory, judge growth, profile allocations in deep mode.

:class:`MemoryMonitor` takes a :class:`~otelperf.processors.memory.MemorySample` every
``interval_s``, feeds its RSS to a pure :class:`~otelperf.leaks.GrowthAnalyzer` and, in deep mode,
asks an :class:`~otelperf.processors.allocations.AllocationProfiler` for the lines and types that
grow. Without deep mode the thread costs under 0.01 % of one core at the default 10 s interval
(``benchmarks/bench_memory.py``).
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import replace

from otelperf import _fork
from otelperf._safety import logger, never_raise
from otelperf.leaks.growth import GrowthAnalyzer
from otelperf.leaks.report import AllocationSite, GrowthReport, TypeGrowth
from otelperf.processors.allocations import AllocationProfiler
from otelperf.processors.memory import MemorySample, MemorySampler

__all__ = ["MEMORY_THREAD_NAME", "MemoryMonitor", "ReportCallback"]

MEMORY_THREAD_NAME = "otelperf-memory"


ReportCallback = Callable[[GrowthReport, MemorySample], None]
"""Called on the memory thread after every sample with the report and the sample."""


class MemoryMonitor:
    """Samples memory on the ``otelperf-memory`` daemon thread and judges its growth.

    Every ``interval_s`` (the first at once) the thread takes a :class:`MemorySample`, feeds its
    RSS to the analyzer and builds a report with an ETA against the sample's limit (against
    ``RLIMIT_AS`` the usage is the virtual size). In deep mode the tick also profiles allocations
    when ``deep_every`` ticks have passed since the last profile *and* the time since its start is
    at least its duration divided by ``deep_max_share``: a profile costs about 4 µs per live
    block, so on a large heap the second rule spaces profiles out and caps the share of time the
    thread spends profiling (and holding the GIL for the snapshot). The latest growing sites and
    types ride on every report. The report and
    sample become :attr:`latest`, then go to ``on_report``. A failing sample is dropped
    (``never_raise``) and a failing callback logged; neither ends the thread. Logs go through the
    ``otelperf`` logger, which folds repeats.

    Thread-safe. The thread starts in the constructor and :meth:`shutdown` stops it. In a forked
    child :meth:`_reinit` (registered with ``otelperf._fork``) starts afresh; reading
    :attr:`latest` in a child does it too, for runtimes that skip at-fork hooks.
    """

    def __init__(
        self,
        *,
        interval_s: float = 10.0,
        analyzer: GrowthAnalyzer | None = None,
        sampler: MemorySampler | None = None,
        on_report: ReportCallback | None = None,
        deep: bool = False,
        deep_every: int = 6,
        deep_max_share: float = 0.2,
        profiler: AllocationProfiler | None = None,
    ) -> None:
        """Start monitoring.

        Args:
            interval_s: Seconds between samples. At the default 10 s the thread costs under
                0.01 % of one core without deep mode (``benchmarks/bench_memory.py``).
            analyzer: Trend of RSS; default :class:`~otelperf.leaks.GrowthAnalyzer` (1 h window,
                5 min warm-up, 10 MB/h).
            sampler: Source of samples; default :class:`MemorySampler`.
            on_report: Called on the memory thread after each sample; must return quickly.
            deep: Turn deep mode on: starts tracemalloc for the whole process (costly, see
                :mod:`otelperf.processors.allocations`).
            deep_every: Profile at most every ``deep_every``-th tick (the first included).
            deep_max_share: Largest share of wall time spent profiling, in (0, 1]: after a
                profile that took ``d`` seconds, the next starts ``d / deep_max_share`` seconds
                after it at the earliest.
            profiler: Deep-mode profiler (default :class:`AllocationProfiler`); used if ``deep``.

        Raises:
            ValueError: If ``interval_s`` is not a finite positive number, ``deep_every`` < 1
                or ``deep_max_share`` is outside (0, 1].
        """
        if not (interval_s > 0 and math.isfinite(interval_s)):
            raise ValueError(f"interval_s={interval_s!r}: expected a finite number > 0")
        if deep_every < 1:
            raise ValueError(f"deep_every={deep_every!r}: expected an integer >= 1")
        if not 0 < deep_max_share <= 1:
            raise ValueError(f"deep_max_share={deep_max_share!r}: expected a number in (0, 1]")
        self._interval_s = interval_s
        self._analyzer = analyzer if analyzer is not None else GrowthAnalyzer()
        self._sampler = sampler if sampler is not None else MemorySampler()
        self._on_report = on_report
        self._profiler = (profiler or AllocationProfiler()) if deep else None
        self._deep_every = deep_every
        self._deep_max_share = deep_max_share
        self._closed = False
        self._pid = -1  # no process yet: _reinit below sets everything up as for a fresh child
        if self._profiler is not None:
            self._profiler.start()
        self._reinit()
        _fork.register(self._reinit)

    @property
    def latest(self) -> tuple[GrowthReport, MemorySample] | None:
        """The last report and the sample it came from; ``None`` before the first sample."""
        if self._pid != os.getpid():
            self._reinit()  # fork without at-fork hooks: this child never restarted its thread
        with self._lock:
            return self._latest

    def _reinit(self) -> None:
        """Start afresh in this process (constructor, and the at-fork hook in a child).

        A child's memory is its own story: the inherited trend, samples and profiles are dropped
        (the parent reports its own). Locks are replaced, never acquired: a parent thread may have
        held them at the fork. Does nothing if already set up for this pid.
        """
        pid = os.getpid()
        if self._pid == pid:
            return
        inherited = self._pid != -1
        self._pid = pid
        self._lock = threading.Lock()  # guards _latest
        self._stop = threading.Event()
        self._latest: tuple[GrowthReport, MemorySample] | None = None
        self._culprits: tuple[tuple[AllocationSite, ...], tuple[TypeGrowth, ...]] = ((), ())
        self._ticks_since_profile = self._deep_every  # the first tick profiles
        self._profile_after_ns = 0  # monotonic time before which no profile starts
        if inherited:
            self._analyzer.reset()
            self._sampler.reinit()
            if self._profiler is not None:
                self._profiler.clear()
        self._thread: threading.Thread | None = None
        if not self._closed:
            self._thread = threading.Thread(target=self._run, name=MEMORY_THREAD_NAME, daemon=True)
            self._thread.start()

    def shutdown(self, *, timeout_s: float = 5.0) -> bool:
        """Stop the thread and deep mode. Idempotent; blocks at most ``timeout_s`` seconds.

        Returns:
            ``True`` if the thread has ended (or never ran); ``False`` on timeout, in which case
            the daemon thread ends, and stops deep mode, after its current sample.
        """
        self._closed = True
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(max(0.0, timeout_s))
        stopped = thread is None or not thread.is_alive()
        if stopped and self._profiler is not None:
            self._profiler.stop()
        return stopped

    def _run(self) -> None:
        stop = self._stop
        while not stop.is_set():
            self._tick()
            if stop.wait(self._interval_s):
                break
        if self._profiler is not None and self._closed:
            self._profiler.stop()  # in case shutdown() gave up waiting for us

    def _maybe_profile(self, profiler: AllocationProfiler) -> None:
        self._ticks_since_profile += 1
        started_ns = time.monotonic_ns()
        if self._ticks_since_profile < self._deep_every or started_ns < self._profile_after_ns:
            return
        self._culprits = profiler.diff()
        took_ns = time.monotonic_ns() - started_ns
        self._ticks_since_profile = 0
        self._profile_after_ns = started_ns + int(took_ns / self._deep_max_share)

    @never_raise
    def _tick(self) -> None:
        sample = self._sampler.sample()
        self._analyzer.add(timestamp_ns=sample.timestamp_ns, value_bytes=sample.rss_bytes)
        limit = sample.limit
        against_vms = limit is not None and limit.source == "rlimit_as"
        report = self._analyzer.report(
            limit_bytes=None if limit is None else limit.limit_bytes,
            usage_bytes=sample.vms_bytes if against_vms else None,
        )
        if self._profiler is not None:
            self._maybe_profile(self._profiler)
            report = replace(report, top_sites=self._culprits[0], top_types=self._culprits[1])
        with self._lock:
            self._latest = (report, sample)
        if self._on_report is not None:
            try:
                self._on_report(report, sample)
            except Exception:  # noqa: BLE001 - a failing hook must not stop sampling (DESIGN §9)
                logger.exception("otelperf memory on_report callback failed; app unaffected")

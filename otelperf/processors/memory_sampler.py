"""Sample this process's memory, judge its growth on a thread, and profile allocations on demand.

- :class:`MemorySampler` reads RSS/VMS (psutil), USS every ``uss_every`` samples (psutil
  ``memory_full_info`` parses ``/proc/self/smaps``: 0.4-1.6 ms, more with many mappings), Python
  heap blocks, GC statistics and the memory limit (:func:`read_memory_limit`). About 0.1 ms of CPU
  per sample on average; with the analysis, under 0.01 % of one core at the default 10 s interval.
- :class:`AllocationProfiler` is deep mode: tracemalloc snapshots and ``gc.get_objects()`` type
  counts, diffed to name the lines and types that grow. **Costly**: tracemalloc makes every
  allocation in the process slower (9-14x in an allocation-bound loop) and keeps ~60-90 bytes per
  live block; a profile costs 3-6 µs of CPU per live block (~0.35 s for 100 000 blocks), part of
  it with the GIL held (the snapshot, the type count). Use it to find a leak, not always on
  (``benchmarks/bench_memory.py`` prints the figures).
- :class:`MemoryMonitor` runs both on the ``otelperf-memory`` daemon thread and feeds RSS to a
  :class:`~otelperf.leaks.GrowthAnalyzer`.
"""

from __future__ import annotations

import collections
import gc
import math
import os
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import psutil

import otelperf.leaks
from otelperf import _fork
from otelperf._safety import logger, never_raise
from otelperf.leaks.culprits import SiteKey, SiteStats, growing_sites, growing_types
from otelperf.leaks.growth import GrowthAnalyzer
from otelperf.leaks.limits import (
    MemoryLimit,
    cgroup_ancestors,
    parse_cgroup_v1_limit,
    parse_cgroup_v2_max,
    parse_proc_cgroup,
    tightest_limit,
)
from otelperf.leaks.report import AllocationSite, GrowthReport, TypeGrowth

__all__ = [
    "MEMORY_THREAD_NAME",
    "AllocationProfiler",
    "MemoryMonitor",
    "MemorySample",
    "MemorySampler",
    "ReportCallback",
    "read_memory_limit",
]

MEMORY_THREAD_NAME = "otelperf-memory"
# A container's limit can be resized at runtime; re-reading a few small files now and then is cheap.
_LIMIT_REFRESH_SAMPLES = 60


def _rlimit_as() -> int | None:
    try:
        import resource  # not on Windows
    except ImportError:
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    return None if soft in (resource.RLIM_INFINITY, -1) or soft <= 0 else soft


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii", errors="replace")
    except OSError:
        return None


def read_memory_limit(
    *,
    cgroup_root: str = "/sys/fs/cgroup",
    proc_cgroup: str = "/proc/self/cgroup",
    rlimit_as: Callable[[], int | None] = _rlimit_as,
) -> MemoryLimit | None:
    """The tightest memory limit on this process: cgroup v2, cgroup v1 or ``RLIMIT_AS``.

    Blocking file reads (a few small pseudo-files); never raises for missing or unreadable files.

    Args:
        cgroup_root: Mount point of the cgroup file system (v2), or parent of the v1 hierarchies.
        proc_cgroup: The process's cgroup list.
        rlimit_as: Returns the soft ``RLIMIT_AS`` in bytes, or ``None`` when unlimited.

    Returns:
        The smallest known limit, or ``None`` if nothing limits the process.
    """
    paths = parse_proc_cgroup(_read(Path(proc_cgroup)) or "")
    root = Path(cgroup_root)
    found: list[MemoryLimit] = []
    if paths.v2 is not None:
        for directory in cgroup_ancestors(paths.v2):
            value = parse_cgroup_v2_max(_read(root / directory / "memory.max") or "")
            if value is not None:
                found.append(MemoryLimit(limit_bytes=value, source="cgroup_v2"))
    if paths.v1_memory is not None:
        for directory in cgroup_ancestors(paths.v1_memory):
            text = _read(root / "memory" / directory / "memory.limit_in_bytes")
            value = parse_cgroup_v1_limit(text or "")
            if value is not None:
                found.append(MemoryLimit(limit_bytes=value, source="cgroup_v1"))
    rlimit = rlimit_as()
    if rlimit is not None:
        found.append(MemoryLimit(limit_bytes=rlimit, source="rlimit_as"))
    return tightest_limit(*found)


@dataclass(frozen=True, slots=True, kw_only=True)
class MemorySample:
    """One reading of this process's memory.

    Attributes:
        timestamp_ns: When it was taken, from the sampler's (monotonic) clock.
        pid: The process it describes.
        rss_bytes: Resident set size, shared pages included (what the OOM killer weighs).
        vms_bytes: Virtual size (what ``RLIMIT_AS`` limits).
        uss_bytes: Unique set size (what exiting would free); ``None`` on samples that skip it
            (see ``uss_every``) or where the platform denies it.
        heap_blocks: Blocks allocated by CPython (``sys.getallocatedblocks()``), a count.
        gc_counts: Allocations minus deallocations since the last collection, per generation.
        gc_collections: Collections run since start, per generation.
        gc_collected: Objects the collector freed since start (all generations).
        gc_uncollectable: Objects found uncollectable since start (all generations).
        gc_garbage: Objects in ``gc.garbage`` now (uncollectable cycles kept alive there).
        limit: The tightest known memory limit, if any.
    """

    timestamp_ns: int
    pid: int
    rss_bytes: int
    vms_bytes: int
    uss_bytes: int | None
    heap_blocks: int
    gc_counts: tuple[int, ...]
    gc_collections: tuple[int, ...]
    gc_collected: int
    gc_uncollectable: int
    gc_garbage: int
    limit: MemoryLimit | None


class MemorySampler:
    """Reads :class:`MemorySample` values for the current process.

    Not thread-safe (one owner calls :meth:`sample`); blocking but cheap: 25-45 µs of CPU per
    sample, plus 0.4-1.6 ms on the samples that read USS.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], int] = time.monotonic_ns,
        uss_every: int = 6,
        limit_reader: Callable[[], MemoryLimit | None] = read_memory_limit,
    ) -> None:
        """Bind to the current process.

        Args:
            clock: Monotonic clock in ns for the sample timestamps.
            uss_every: Read USS on every ``uss_every``-th sample (the first included); 0: never.
            limit_reader: Returns the memory limit; called on the first sample and every 60th.

        Raises:
            ValueError: If ``uss_every`` is negative.
        """
        if uss_every < 0:
            raise ValueError(f"uss_every={uss_every!r}: expected an integer >= 0")
        self._clock = clock
        self._uss_every = uss_every
        self._limit_reader = limit_reader
        self.reinit()

    def reinit(self) -> None:
        """Bind to the current process again (psutil caches the pid: call after a fork)."""
        self._process = psutil.Process()
        self._count = 0
        self._uss_denied = False
        self._limit: MemoryLimit | None = None

    def sample(self) -> MemorySample:
        """Take one sample now.

        Raises:
            psutil.Error: If psutil cannot read this process's basic memory info.
        """
        now_ns = self._clock()
        if self._count % _LIMIT_REFRESH_SAMPLES == 0:
            self._limit = self._limit_reader()
        uss: int | None = None
        if self._uss_every and not self._uss_denied and self._count % self._uss_every == 0:
            try:
                uss = int(self._process.memory_full_info().uss)
            except psutil.AccessDenied:  # some containers hide smaps: stop asking
                self._uss_denied = True
        self._count += 1
        info = self._process.memory_info()
        stats = gc.get_stats()
        return MemorySample(
            timestamp_ns=now_ns,
            pid=self._process.pid,
            rss_bytes=int(info.rss),
            vms_bytes=int(info.vms),
            uss_bytes=uss,
            heap_blocks=sys.getallocatedblocks(),
            gc_counts=gc.get_count(),
            gc_collections=tuple(s["collections"] for s in stats),
            gc_collected=sum(s["collected"] for s in stats),
            gc_uncollectable=sum(s["uncollectable"] for s in stats),
            gc_garbage=len(gc.garbage),
            limit=self._limit,
        )


class AllocationProfiler:
    """Deep mode: names the source lines and object types that grow. Costly: see the module doc.

    :meth:`start` turns tracemalloc on (unless something else already did); :meth:`stop` turns it
    off only if this profiler turned it on. Each :meth:`diff` takes a tracemalloc snapshot and a
    type count and compares them with those taken ``lookback`` calls earlier, so a slow leak adds
    up over several intervals instead of drowning in the noise of one. Per-line totals are kept,
    not snapshots: memory is O(allocating lines x lookback). Not thread-safe: one owner.

    Type counts cover objects the GC tracks (containers, instances). ``bytes`` and ``str`` are
    untracked: they show up only through their holders (a growing ``list`` or ``dict``).
    """

    def __init__(
        self, *, frames: int = 1, top: int = 5, lookback: int = 4, count_types: bool = True
    ) -> None:
        """Check the settings; nothing is traced before :meth:`start`.

        Args:
            frames: Frames tracemalloc stores per allocation (sites are the innermost one). Each
                extra frame costs on every allocation.
            top: How many sites and types :meth:`diff` returns.
            lookback: Compare with the profile taken this many calls earlier.
            count_types: Also count object types with ``gc.get_objects()``.

        Raises:
            ValueError: If ``frames``, ``top`` or ``lookback`` is below 1.
        """
        for name, value in (("frames", frames), ("top", top), ("lookback", lookback)):
            if value < 1:
                raise ValueError(f"{name}={value!r}: expected an integer >= 1")
        self._frames, self._top, self._count_types = frames, top, count_types
        self._sites: collections.deque[dict[SiteKey, SiteStats]] = collections.deque(
            maxlen=lookback + 1
        )
        self._types: collections.deque[dict[str, int]] = collections.deque(maxlen=lookback + 1)
        self._owns_tracing = False
        # Our own bookkeeping (reports, profiles) and the import system would otherwise rank high.
        # Matched per line after grouping: Snapshot.filter_traces matches every trace (5x slower).
        self._ignored = (
            tracemalloc.__file__,
            __file__,
            str(Path(otelperf.leaks.__file__).parent),
            "<frozen importlib._bootstrap",
            "<unknown>",
        )

    def start(self) -> None:
        """Start tracemalloc with ``frames`` frames unless it is already tracing."""
        if not tracemalloc.is_tracing():
            tracemalloc.start(self._frames)
            self._owns_tracing = True

    def stop(self) -> None:
        """Stop tracemalloc if :meth:`start` started it, and forget the history. Idempotent."""
        if self._owns_tracing:
            self._owns_tracing = False
            tracemalloc.stop()
        self.clear()

    def clear(self) -> None:
        """Forget the profiles taken so far (the next :meth:`diff` starts a new baseline)."""
        self._sites.clear()
        self._types.clear()

    def diff(self) -> tuple[tuple[AllocationSite, ...], tuple[TypeGrowth, ...]]:
        """Profile now and return the sites and types that grew since ``lookback`` calls ago.

        Returns:
            ``(sites, types)``, largest growth first; empty on the first call and when tracemalloc
            is not tracing (someone else stopped it).
        """
        sites: tuple[AllocationSite, ...] = ()
        if tracemalloc.is_tracing():
            current: dict[SiteKey, SiteStats] = {}
            for stat in tracemalloc.take_snapshot().statistics("lineno"):
                frame = stat.traceback[0]
                if not frame.filename.startswith(self._ignored):
                    current[(frame.filename, frame.lineno)] = (stat.size, stat.count)
            if self._sites:
                sites = growing_sites(self._sites[0], current, limit=self._top)
            self._sites.append(current)
        types: tuple[TypeGrowth, ...] = ()
        if self._count_types:
            named: collections.Counter[str] = collections.Counter()
            # Classes made at run time can share a name: add them up.
            for kind, n in collections.Counter(map(type, gc.get_objects())).items():
                named[f"{kind.__module__}.{kind.__qualname__}"] += n
            if self._types:
                types = growing_types(self._types[0], named, limit=self._top)
            self._types.append(named)
        return sites, types


ReportCallback = Callable[[GrowthReport, MemorySample], None]
"""Called on the memory thread after every sample with the report and the sample."""


class MemoryMonitor:
    """Samples memory on the ``otelperf-memory`` daemon thread and judges its growth.

    Every ``interval_s`` (the first at once) the thread takes a :class:`MemorySample`, feeds its
    RSS to the analyzer and builds a report with an ETA against the sample's limit (against
    ``RLIMIT_AS`` the usage is the virtual size). In deep mode every ``deep_every``-th tick also
    profiles allocations; the latest growing sites and types ride on every report. The report and
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
            deep: Turn deep mode on: starts tracemalloc for the whole process (costly, see the
                module doc).
            deep_every: Profile on every ``deep_every``-th tick (the first included).
            profiler: Deep-mode profiler (default :class:`AllocationProfiler`); used if ``deep``.

        Raises:
            ValueError: If ``interval_s`` is not a finite positive number or ``deep_every`` < 1.
        """
        if not (interval_s > 0 and math.isfinite(interval_s)):
            raise ValueError(f"interval_s={interval_s!r}: expected a finite number > 0")
        if deep_every < 1:
            raise ValueError(f"deep_every={deep_every!r}: expected an integer >= 1")
        self._interval_s = interval_s
        self._analyzer = analyzer if analyzer is not None else GrowthAnalyzer()
        self._sampler = sampler if sampler is not None else MemorySampler()
        self._on_report = on_report
        self._profiler = (profiler or AllocationProfiler()) if deep else None
        self._deep_every = deep_every
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
        self._ticks = 0
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
            if self._ticks % self._deep_every == 0:
                self._culprits = self._profiler.diff()
            report = replace(report, top_sites=self._culprits[0], top_types=self._culprits[1])
        self._ticks += 1
        with self._lock:
            self._latest = (report, sample)
        if self._on_report is not None:
            try:
                self._on_report(report, sample)
            except Exception:  # noqa: BLE001 - a failing hook must not stop sampling (DESIGN §9)
                logger.exception("otelperf memory on_report callback failed; app unaffected")

"""Read this process's memory: RSS/VMS/USS (psutil), Python heap blocks, GC statistics, the limit.

:class:`MemorySampler` takes one :class:`MemorySample` per call; :func:`read_memory_limit` finds
the tightest memory limit (cgroup v2, cgroup v1, ``RLIMIT_AS``) from the real files, parsed by the
pure :mod:`otelperf.leaks.limits`. A sample costs 25-45 µs of CPU, plus 0.4-1.6 ms on the samples
that read USS (psutil ``memory_full_info`` parses ``/proc/self/smaps``; more with many mappings);
``benchmarks/bench_memory.py`` prints the figures. The ``otelperf-memory`` thread that calls it
lives in :mod:`otelperf.processors.leaks`.
"""

from __future__ import annotations

import gc
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil

from otelperf.leaks.limits import (
    MemoryLimit,
    cgroup_ancestors,
    parse_cgroup_v1_limit,
    parse_cgroup_v2_max,
    parse_proc_cgroup,
    tightest_limit,
)

__all__ = ["MemorySample", "MemorySampler", "read_memory_limit"]

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

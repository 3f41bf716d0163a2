"""Deep mode: tracemalloc snapshots and object-type counts, diffed to name what grows.

**Costly.** tracemalloc makes every allocation in the process slower (9-14x in an
allocation-bound loop) and keeps ~60-90 bytes per live block; a profile costs 3-6 µs of CPU per
live block (~0.35 s for 100 000 blocks), part of it with the GIL held (the snapshot, the type
count). Use it to find a leak, not always on (``benchmarks/bench_memory.py`` prints the figures).
The diffing itself is pure (:mod:`otelperf.leaks.culprits`).
"""

from __future__ import annotations

import collections
import gc
import tracemalloc
from pathlib import Path

import otelperf.leaks
from otelperf.leaks.culprits import SiteKey, SiteStats, growing_sites, growing_types
from otelperf.leaks.report import AllocationSite, TypeGrowth

__all__ = ["AllocationProfiler"]

_HERE = Path(__file__).parent
# Allocations made by leak detection itself (samples, reports, profiles) would otherwise rank high.
_OWN_FILES = (
    __file__,
    str(_HERE / "leaks.py"),
    str(_HERE / "memory.py"),
    str(Path(otelperf.leaks.__file__).parent),
)


class AllocationProfiler:
    """Names the source lines and object types that grow. Costly: see the module docstring.

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
        # Our own bookkeeping and the import system would otherwise rank high. Matched per line
        # after grouping: Snapshot.filter_traces matches every trace (5x slower).
        self._ignored = (
            tracemalloc.__file__,
            *_OWN_FILES,
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

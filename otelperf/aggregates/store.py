"""``KeyedWindows``: one sliding window per operation key, with a bounded number of keys.

The aggregator thread feeds it batches of ended spans; readers ask for window statistics
(``OperationStats``), cumulative sketches (metric export) and closed sub-windows (SLO burn
rates). Pure and single-threaded: the adapter that owns a store owns its lock.

Bounds: at most ``max_operations`` keys of their own; samples of further operations fold into
``OTHER_KEY`` (one extra key) and are counted. Keys are never evicted: a key idle for longer
than the window has no statistics (``stats`` returns ``None``, ``all_stats`` omits it) but
keeps its cumulative sketch, which is still exported, and its place among ``max_operations``
for the life of the store. Memory per key is one sketch per non-empty sub-window in the
window, a cached merge of the closed ones, the last snapshot and the retired (cumulative)
sketch: at most ``sub_windows + 3`` sketches (~1.6 KiB each for a 3-decade spread while counts
fit uint16, up to twice that for the merged ones of a busy operation; less for narrower
spreads). Measured in steady state with ``tracemalloc`` (``benchmarks/bench_aggregates.py``):
2.5-3.1 KiB per operation per sub-window for a 1 ms-1 s spread.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from otelperf.aggregates.exponential import DEFAULT_MAX_SCALE, DEFAULT_MAX_SIZE
from otelperf.aggregates.stats import OperationStats
from otelperf.aggregates.windows import SlidingWindow, WindowData

__all__ = ["MIXED_KIND", "OTHER_KEY", "KeyedWindows"]

OTHER_KEY = "otelperf.other"
"""The key that operations beyond ``max_operations`` fold into."""
MIXED_KIND = "mixed"
"""The kind of a key whose samples came with more than one span kind."""


class _Group:
    """The samples of one operation within one batch."""

    __slots__ = ("errors", "kind", "values_s")

    def __init__(self, kind: str) -> None:
        self.values_s: list[float] = []
        self.errors = 0
        self.kind = kind


class KeyedWindows:
    """Per-operation sliding windows of latency sketches, capped at ``max_operations`` keys."""

    __slots__ = (
        "_folded_names",
        "_folded_samples",
        "_kinds",
        "_max_operations",
        "_negative_durations",
        "_operations",
        "_stats_cache",
        "_window_args",
        "_windows",
    )

    def __init__(
        self,
        *,
        max_operations: int = 2000,
        window_ns: int = 60_000_000_000,
        sub_windows: int = 6,
        max_size: int = DEFAULT_MAX_SIZE,
        max_scale: int = DEFAULT_MAX_SCALE,
    ) -> None:
        """Create an empty store.

        Args:
            max_operations: Keys with a window of their own (at least 1); ``OTHER_KEY``
                comes on top.
            window_ns: Sliding window length (see ``SlidingWindow``).
            sub_windows: Sub-windows per window.
            max_size: Bucket cap of every sketch.
            max_scale: Starting scale of every sketch.

        Raises:
            ValueError: If an argument is out of range.
        """
        if max_operations < 1:
            raise ValueError(f"max_operations must be at least 1, got {max_operations!r}")
        self._window_args = {
            "window_ns": window_ns,
            "sub_windows": sub_windows,
            "max_size": max_size,
            "max_scale": max_scale,
        }
        SlidingWindow(**self._window_args)  # fail now, not at the first sample
        self._max_operations = max_operations
        self._windows: dict[str, SlidingWindow] = {}
        self._kinds: dict[str, str] = {}
        self._operations = 0  # keys other than OTHER_KEY
        self._folded_samples = 0
        # Names of folded operations, to count distinct ones. Capped like the keys themselves
        # so a flood of unique span names cannot grow it without bound.
        self._folded_names: set[str] = set()
        self._negative_durations = 0
        # Last statistics per key: reused while the window returns the same snapshot sketch,
        # so a tick that reads every key only recomputes the keys that changed.
        self._stats_cache: dict[str, OperationStats] = {}

    def __len__(self) -> int:
        """Number of keys, ``OTHER_KEY`` included."""
        return len(self._windows)

    def __contains__(self, key: object) -> bool:
        """Whether ``key`` has a window."""
        return key in self._windows

    @property
    def operations(self) -> tuple[str, ...]:
        """Every key, in the order first seen."""
        return tuple(self._windows)

    @property
    def max_operations(self) -> int:
        """Cap on keys with a window of their own."""
        return self._max_operations

    @property
    def folded_samples(self) -> int:
        """Samples added under ``OTHER_KEY`` because their operation found the store full."""
        return self._folded_samples

    @property
    def folded_keys(self) -> int:
        """Distinct operations folded into ``OTHER_KEY``.

        Exact up to ``max_operations`` distinct folded names; a lower bound beyond that.
        """
        return len(self._folded_names)

    @property
    def negative_durations(self) -> int:
        """Samples whose duration was negative (a clock step) and were recorded as 0."""
        return self._negative_durations

    def kind(self, key: str) -> str | None:
        """Return the span kind of ``key`` (``MIXED_KIND`` if it varied), or None if unseen."""
        return self._kinds.get(key)

    def add_batch(self, items: Iterable[tuple[str, str, int, bool]], now_ns: int) -> None:
        """Add ended spans as ``(operation, kind, duration_ns, is_error)`` at time ``now_ns``.

        Durations are converted to seconds once here; negative ones are recorded as 0 and
        counted in ``negative_durations``. Samples are grouped per operation so each window
        gets one batch insert.
        """
        groups: dict[str, _Group] = {}
        negative = 0
        for operation, kind, duration_ns, is_error in items:
            group = groups.get(operation)
            if group is None:
                group = groups[operation] = _Group(kind)
            elif kind != group.kind:
                group.kind = MIXED_KIND
            if duration_ns < 0:
                negative += 1
                duration_ns = 0
            group.values_s.append(duration_ns / 1e9)
            if is_error:
                group.errors += 1
        self._negative_durations += negative
        for operation, group in groups.items():
            window = self._window_for(operation, group.kind, len(group.values_s))
            window.add_many(group.values_s, errors=group.errors, now_ns=now_ns)

    def _window_for(self, operation: str, kind: str, samples: int) -> SlidingWindow:
        """Return the window of ``operation``, creating it or folding into ``OTHER_KEY``."""
        window = self._windows.get(operation)
        if window is None and operation != OTHER_KEY and self._operations >= self._max_operations:
            self._folded_samples += samples
            if len(self._folded_names) < self._max_operations:
                self._folded_names.add(operation)
            operation = OTHER_KEY
            window = self._windows.get(operation)
        if window is None:
            window = self._windows[operation] = SlidingWindow(**self._window_args)
            self._kinds[operation] = kind
            if operation != OTHER_KEY:
                self._operations += 1
        elif self._kinds[operation] != kind:
            self._kinds[operation] = MIXED_KIND
        return window

    def stats(self, key: str, now_ns: int) -> OperationStats | None:
        """Return the window statistics of ``key``, or None if it has no sample in the window."""
        window = self._windows.get(key)
        if window is None:
            return None
        data = window.snapshot(now_ns)
        if data.count == 0:
            self._stats_cache.pop(key, None)
            return None
        kind = self._kinds[key]
        cached = self._stats_cache.get(key)
        if cached is not None and cached._sketch is data.sketch and cached.kind == kind:
            if cached.window_s == data.span_s:
                return cached
            stats = replace(cached, window_s=data.span_s)
        else:
            stats = OperationStats.from_sketch(
                operation=key,
                kind=kind,
                sketch=data.sketch,
                errors=data.errors,
                window_s=data.span_s,
            )
        self._stats_cache[key] = stats
        return stats

    def all_stats(self, now_ns: int) -> dict[str, OperationStats]:
        """Return the statistics of every key with a sample in the window."""
        found = {key: self.stats(key, now_ns) for key in self._windows}
        return {key: stats for key, stats in found.items() if stats is not None}

    def cumulative(self, key: str, now_ns: int) -> WindowData | None:
        """Return every sample ``key`` ever had (seconds), or None if the key is unknown."""
        window = self._windows.get(key)
        return None if window is None else window.cumulative(now_ns)

    def all_cumulative(self, now_ns: int) -> dict[str, WindowData]:
        """Return the cumulative data of every key (each has at least one sample)."""
        return {key: window.cumulative(now_ns) for key, window in self._windows.items()}

    def pop_closed(self, now_ns: int) -> dict[str, tuple[WindowData, ...]]:
        """Return, per key, the sub-windows closed since the previous call (``SlidingWindow``)."""
        closed = {key: window.pop_closed(now_ns) for key, window in self._windows.items()}
        return {key: items for key, items in closed.items() if items}

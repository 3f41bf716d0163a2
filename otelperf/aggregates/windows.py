"""A sliding window of exponential sketches, driven by a caller-supplied clock.

The window is split into ``sub_windows`` equal sub-windows aligned on multiples of
``window_ns / sub_windows`` (10 s by default). At time ``now`` it holds the current
sub-window and the ``sub_windows - 1`` before it, so a sample leaves the window at most
``window_ns`` after it was added and at least ``window_ns - sub_window_ns`` after: the
granularity is one sub-window. A sub-window that leaves is merged into the retired sketch, so
the all-time (cumulative) histogram costs no second insert per sample.

Pure and single-threaded: no clock reads, no locks. ``now_ns`` must not go backwards; an
earlier value is treated as the latest one seen.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from otelperf.aggregates.exponential import DEFAULT_MAX_SCALE, DEFAULT_MAX_SIZE, ExpSketch

__all__ = ["SlidingWindow", "WindowData"]


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class WindowData:
    """A sketch with its error count and the time span it covers.

    Used for a window snapshot, the cumulative state and closed sub-windows. ``sketch`` may
    be shared (a closed sub-window's own sketch, or the cached snapshot), so treat it as
    read-only and ``copy()`` it before changing it. The window never changes a sketch it has
    handed out, so reading one needs no lock.
    """

    sketch: ExpSketch
    """The samples, in seconds."""
    errors: int
    """How many of the samples were errors."""
    start_ns: int
    """Start of the covered span (caller's clock)."""
    end_ns: int
    """End of the covered span (caller's clock)."""

    @property
    def count(self) -> int:
        """Number of samples."""
        return self.sketch.count

    @property
    def span_s(self) -> float:
        """Length of the covered span in seconds."""
        return (self.end_ns - self.start_ns) / 1e9


class _SubWindow:
    """One sub-window: its slot number (start // sub_window_ns), sketch and error count."""

    __slots__ = ("errors", "sketch", "slot")

    def __init__(self, slot: int, sketch: ExpSketch) -> None:
        self.slot = slot
        self.sketch = sketch
        self.errors = 0


class SlidingWindow:
    """Latency samples (seconds) and error counts over a sliding time window."""

    __slots__ = (
        "_closed_cache",
        "_first_ns",
        "_last_ns",
        "_max_scale",
        "_max_size",
        "_missed_closed",
        "_popped_slot",
        "_retired",
        "_retired_errors",
        "_ring",
        "_slot",
        "_snapshot_cache",
        "_sub_window_ns",
        "_sub_windows",
    )

    def __init__(
        self,
        *,
        window_ns: int = 60_000_000_000,
        sub_windows: int = 6,
        max_size: int = DEFAULT_MAX_SIZE,
        max_scale: int = DEFAULT_MAX_SCALE,
    ) -> None:
        """Create an empty window.

        Args:
            window_ns: Window length; must be a positive multiple of ``sub_windows``.
            sub_windows: Number of sub-windows (at least 1).
            max_size: ``ExpSketch`` bucket cap for every sketch of this window.
            max_scale: ``ExpSketch`` starting scale for every sketch of this window.

        Raises:
            ValueError: If an argument is out of range.
        """
        if sub_windows < 1:
            raise ValueError(f"sub_windows must be at least 1, got {sub_windows!r}")
        if window_ns <= 0 or window_ns % sub_windows:
            raise ValueError(
                f"window_ns must be a positive multiple of sub_windows ({sub_windows}), "
                f"got {window_ns!r}"
            )
        self._sub_windows = sub_windows
        self._sub_window_ns = window_ns // sub_windows
        self._max_size = max_size
        self._max_scale = max_scale
        self._retired = ExpSketch(max_size=max_size, max_scale=max_scale)  # validates both
        self._retired_errors = 0
        # Non-empty sub-windows still in the window, oldest first; at most `sub_windows`.
        self._ring: deque[_SubWindow] = deque()
        self._slot: int | None = None  # slot of the latest now_ns seen
        self._first_ns: int | None = None  # now_ns of the first sample
        self._last_ns: int | None = None  # latest now_ns seen
        # Merge of the closed sub-windows in the ring: closed ones never change, so it is
        # valid until the next rotation and a snapshot only merges the live one into a copy.
        self._closed_cache: tuple[ExpSketch, int] | None = None
        # The last snapshot, valid until a sample arrives or the window rotates: repeated
        # reads of an unchanged window return the same sketch, which callers may use to
        # reuse what they computed from it.
        self._snapshot_cache: tuple[ExpSketch, int] | None = None
        self._popped_slot: int | None = None  # newest slot pop_closed() has returned
        self._missed_closed = 0

    @property
    def window_ns(self) -> int:
        """Nominal window length."""
        return self._sub_window_ns * self._sub_windows

    @property
    def sub_window_ns(self) -> int:
        """Length of one sub-window: the granularity with which samples leave."""
        return self._sub_window_ns

    @property
    def missed_closed(self) -> int:
        """Non-empty closed sub-windows that left the window before ``pop_closed`` saw them.

        Counted only after the first ``pop_closed`` call; call it at least once per
        ``window_ns - sub_window_ns`` to keep this at zero.
        """
        return self._missed_closed

    def add(self, value_s: float, *, is_error: bool, now_ns: int) -> None:
        """Add one sample to the current sub-window.

        Raises:
            ValueError: If ``value_s`` is negative, infinite or NaN.
        """
        self.add_many((value_s,), errors=int(is_error), now_ns=now_ns)

    def add_many(self, values_s: Sequence[float], *, errors: int, now_ns: int) -> None:
        """Add a batch of samples, ``errors`` of which were errors, to the current sub-window.

        Raises:
            ValueError: If ``errors`` is not in ``[0, len(values_s)]`` or a value is
                negative, infinite or NaN (values before it are kept).
        """
        if not 0 <= errors <= len(values_s):
            raise ValueError(f"errors must be in [0, {len(values_s)}], got {errors!r}")
        slot = self._advance(now_ns)
        if not values_s:
            return
        if self._first_ns is None:
            self._first_ns = now_ns
        ring = self._ring
        if not ring or ring[-1].slot != slot:
            ring.append(_SubWindow(slot, self._new_sketch()))
        live = ring[-1]
        self._snapshot_cache = None
        live.sketch.add_many(values_s)
        live.errors += errors  # after the values: a bad value leaves the errors out too

    def snapshot(self, now_ns: int) -> WindowData:
        """Return the samples in the window at ``now_ns`` as one sketch (read-only).

        While no sample arrives and the window does not rotate, every call returns the same
        sketch object.

        ``start_ns`` is the start of the oldest sub-window in the window, or the first
        sample's time if later; ``end_ns`` is the latest time seen. Their difference is the
        span the statistics really cover (at most ``window_ns``).
        """
        slot = self._advance(now_ns)
        if self._snapshot_cache is None:
            closed, errors = self._closed(slot)
            sketch = closed.copy()
            live = self._ring[-1] if self._ring and self._ring[-1].slot == slot else None
            if live is not None:
                sketch.merge(live.sketch)
                errors += live.errors
            self._snapshot_cache = (sketch, errors)
        sketch, errors = self._snapshot_cache
        end_ns = self._last_ns if self._last_ns is not None else now_ns
        window_start_ns = (slot - self._sub_windows + 1) * self._sub_window_ns
        start_ns = max(window_start_ns, self._first_ns if self._first_ns is not None else end_ns)
        return WindowData(sketch=sketch, errors=errors, start_ns=start_ns, end_ns=end_ns)

    def cumulative(self, now_ns: int) -> WindowData:
        """Return every sample ever added (retired plus live sub-windows) as one new sketch.

        ``start_ns`` is the first sample's time (``end_ns`` if there was none).
        """
        self._advance(now_ns)
        sketch = self._retired.copy()
        errors = self._retired_errors
        for sub in self._ring:
            sketch.merge(sub.sketch)
            errors += sub.errors
        end_ns = self._last_ns if self._last_ns is not None else now_ns
        start_ns = self._first_ns if self._first_ns is not None else end_ns
        return WindowData(sketch=sketch, errors=errors, start_ns=start_ns, end_ns=end_ns)

    def pop_closed(self, now_ns: int) -> tuple[WindowData, ...]:
        """Return the non-empty sub-windows that closed since the previous call, oldest first.

        A sub-window closes when ``now_ns`` passes its end. Each item spans exactly one
        sub-window (``start_ns`` to ``end_ns``), for per-sub-window counts such as
        ``count``, ``sketch.count_over(threshold_s)`` and ``errors`` (SLO burn rates). Empty
        sub-windows are not returned. Only sub-windows still in the window can be returned;
        see ``missed_closed``.
        """
        slot = self._advance(now_ns)
        after = self._popped_slot
        closed = tuple(
            WindowData(
                sketch=sub.sketch,
                errors=sub.errors,
                start_ns=sub.slot * self._sub_window_ns,
                end_ns=(sub.slot + 1) * self._sub_window_ns,
            )
            for sub in self._ring
            if sub.slot < slot and (after is None or sub.slot > after)
        )
        self._popped_slot = slot - 1
        return closed

    def _advance(self, now_ns: int) -> int:
        """Move the window to ``now_ns``, retiring sub-windows that left it; return the slot."""
        if self._last_ns is None or now_ns > self._last_ns:
            self._last_ns = now_ns
        slot = self._last_ns // self._sub_window_ns
        if self._slot is not None and slot == self._slot:
            return slot
        self._slot = slot
        self._closed_cache = None  # the previous live sub-window (if any) is now closed
        self._snapshot_cache = None
        oldest = slot - self._sub_windows + 1
        ring = self._ring
        while ring and ring[0].slot < oldest:
            sub = ring.popleft()
            self._retired.merge(sub.sketch)
            self._retired_errors += sub.errors
            if self._popped_slot is not None and sub.slot > self._popped_slot:
                self._missed_closed += 1
        return slot

    def _closed(self, slot: int) -> tuple[ExpSketch, int]:
        """Return the merge of the closed sub-windows in the window and their error count."""
        if self._closed_cache is None:
            sketch = self._new_sketch()
            errors = 0
            for sub in self._ring:
                if sub.slot < slot:
                    sketch.merge(sub.sketch)
                    errors += sub.errors
            self._closed_cache = (sketch, errors)
        return self._closed_cache

    def _new_sketch(self) -> ExpSketch:
        return ExpSketch(max_size=self._max_size, max_scale=self._max_scale)

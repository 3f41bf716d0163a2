"""Bounded request counts of one SLO, for multi-window burn rates (SRE workbook, ch. 5)."""

from __future__ import annotations

__all__ = ["FAST", "HISTORY_S", "SLOT_NS", "SLOW", "BurnHistory", "BurnPair"]

SLOT_NS = 10 * 1_000_000_000
"""Counts are kept per 10-second slot, the size of the aggregator's closed sub-windows."""


class BurnPair:
    """A short and a long window that must both burn faster than ``burn_rate`` to alert."""

    __slots__ = ("burn_rate", "long_s", "short_s")

    def __init__(self, *, short_s: int, long_s: int, burn_rate: float) -> None:
        self.short_s = short_s
        self.long_s = long_s
        self.burn_rate = burn_rate


FAST = BurnPair(short_s=300, long_s=3600, burn_rate=14.4)
"""Page: 2 % of a 30-day error budget spent within one hour, still burning over 5 minutes."""

SLOW = BurnPair(short_s=1800, long_s=21600, burn_rate=6.0)
"""Ticket: 5 % of a 30-day error budget spent within six hours, still burning over 30 minutes."""

HISTORY_S = SLOW.long_s
"""The longest window; older counts are forgotten."""


class BurnHistory:
    """Total and bad request counts per slot over the last ``HISTORY_S``, in a ring.

    Running sums per window make ``add`` O(windows) plus O(slots skipped) and ``counts`` O(1);
    memory is fixed at two lists of ``HISTORY_S / 10 s`` ints. Single-threaded.
    """

    __slots__ = ("_bad", "_last", "_lengths", "_sum_bad", "_sum_total", "_total")

    def __init__(self, windows_s: tuple[int, ...]) -> None:
        """Keep running sums for each window in ``windows_s`` (each at most ``HISTORY_S``)."""
        self._lengths = tuple(window_s * 1_000_000_000 // SLOT_NS for window_s in windows_s)
        size = max(self._lengths)
        self._total = [0] * size
        self._bad = [0] * size
        self._sum_total = [0] * len(windows_s)
        self._sum_bad = [0] * len(windows_s)
        self._last: int | None = None

    def add(self, slot: int, total: int, bad: int) -> None:
        """Count ``total`` requests, ``bad`` of them bad, in ``slot`` (``now_ns // SLOT_NS``).

        Slots older than the newest one count in the newest (late data is not lost).
        """
        size = len(self._total)
        if self._last is None or slot - self._last >= size:
            self._reset()
        elif slot > self._last:
            for step in range(self._last + 1, slot + 1):
                # Each window loses the slot that falls out of it before the ring reuses it.
                for index, length in enumerate(self._lengths):
                    self._sum_total[index] -= self._total[(step - length) % size]
                    self._sum_bad[index] -= self._bad[(step - length) % size]
                self._total[step % size] = 0
                self._bad[step % size] = 0
        else:
            slot = self._last
        self._last = slot
        self._total[slot % size] += total
        self._bad[slot % size] += bad
        for index in range(len(self._lengths)):
            self._sum_total[index] += total
            self._sum_bad[index] += bad

    def _reset(self) -> None:
        for values in (self._total, self._bad, self._sum_total, self._sum_bad):
            values[:] = [0] * len(values)

    def counts(self, index: int) -> tuple[int, int]:
        """Return ``(total, bad)`` over window ``windows_s[index]``, ending at the newest slot."""
        return self._sum_total[index], self._sum_bad[index]

"""``BlockWindows``: per-operation data over a budget's own ``over`` window, in bounded memory.

A budget such as ``db.* p95<50ms over 5m`` (``window_s`` 60 s) is judged over the last 5
minutes, built from the closed sub-windows the aggregator's store hands out (``pop_closed``,
10 s each by default). Keeping every sub-window would cost ``over / 10 s`` sketches per
operation (360 for an hour), so consecutive sub-windows are merged into **blocks**: at most
``MAX_BLOCKS`` (12) per operation, each ``ceil(n / 12)`` sub-windows long (``n`` = ``over`` in
sub-windows, rounded to the nearest whole number, at least 1). Each operation's block
boundaries are shifted by a phase of its own (operations take phases in turn): when a block
completes, the merge of the older blocks is rebuilt, and with shared boundaries every operation
would rebuild on the same tick (measured: a 0.4-0.6 s stall of the store lock for 500
operations on a loaded 2-core VM); with phases that work is spread evenly over the sub-windows.

What the window holds: the closed sub-windows of the newest ``n // block`` blocks, the newest of
which may be partly filled. So it covers at most ``over`` and at least ``over`` minus two blocks
(minus one when ``n`` is a multiple of the block), and the live sub-window (<= 10 s) is not in it
yet: ``over 5m`` with 10 s sub-windows is 10 blocks of 30 s; ``over 1h`` is 12 blocks of 5 min.

Memory: per operation matched by a budget of this length, its blocks, a merge of all but the
newest block and the view's sketch (at most 14 sketches); at most ``max_operations`` operations,
further ones are refused and counted in ``dropped``. Operations whose blocks all expired are
forgotten. Pure and single-threaded: the budget monitor owns it and calls it under the store lock.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping

from otelperf.aggregates import ExpSketch, WindowData
from otelperf.budgets._windows import MAX_BLOCKS
from otelperf.processors.budget_views import SketchView

__all__ = ["BLOCK_MAX_SIZE", "BlockWindows"]

BLOCK_MAX_SIZE = 320
"""Bucket cap of the block sketches: 320 buckets keep scale 5 (<= 1.1 % relative error) for
latencies spanning up to 10 octaves (1024x, e.g. 1 ms to 1 s), scale 4 (<= 2.2 %) up to 20,
in ~1.3 KiB per sketch; the live window's 1024 keep <= 0.55 % in ~3-4 KiB. Measured in
``benchmarks/bench_budgets.py``."""


class _Block:
    """The merged sub-windows of one block of one operation."""

    __slots__ = ("errors", "number", "sketch")

    def __init__(self, number: int, sketch: ExpSketch, errors: int) -> None:
        self.number = number  # (a slot in the block + the series' phase) // sub-windows per block
        self.sketch = sketch
        self.errors = errors


class _Series:
    """One operation's blocks, oldest first, and what is derived from them (None: stale)."""

    __slots__ = ("blocks", "kind", "older", "phase", "view")

    def __init__(self, kind: str, phase: int) -> None:
        self.kind = kind
        self.phase = phase  # added to slots before dividing them into blocks
        self.blocks: deque[_Block] = deque()
        self.older: tuple[ExpSketch, int] | None = None  # merge of every block but the newest
        self.view: SketchView | None = None


class BlockWindows:
    """The data of every matching operation over one window length (see the module docstring)."""

    __slots__ = (
        "_block_subs",
        "_blocks",
        "_created",
        "_max_size",
        "_newest",
        "_series",
        "_sub_window_ns",
        "_views",
        "dropped",
        "max_operations",
        "window_s",
    )

    def __init__(
        self,
        *,
        window_s: float,
        sub_window_ns: int,
        max_operations: int,
        max_blocks: int = MAX_BLOCKS,
        max_size: int = BLOCK_MAX_SIZE,
    ) -> None:
        """Prepare an empty window of ``window_s`` seconds over sub-windows of ``sub_window_ns``.

        ``max_size`` caps the buckets of every block sketch: fewer buckets cost less memory
        and a coarser scale once the latencies spread wider than ``max_size`` buckets hold.

        Raises:
            ValueError: A length or bound is not positive (or ``max_size`` < 4).
        """
        if window_s <= 0 or sub_window_ns <= 0 or max_operations < 1 or max_blocks < 1:
            raise ValueError(
                "BlockWindows needs window_s, sub_window_ns, max_operations and max_blocks > 0, "
                f"got {window_s}, {sub_window_ns}, {max_operations}, {max_blocks}"
            )
        subs = max(1, round(window_s * 1e9 / sub_window_ns))
        ExpSketch(max_size=max_size)  # fail now, not at the first sub-window
        self._max_size = max_size
        self.window_s = window_s
        self.max_operations = max_operations
        self._sub_window_ns = sub_window_ns
        self._block_subs = math.ceil(subs / max_blocks)  # sub-windows per block
        self._blocks = subs // self._block_subs  # blocks in the window, <= max_blocks
        self._series: dict[str, _Series] = {}
        self._newest: int | None = None  # the newest slot the window reached
        self._created = 0  # series created so far: the next one's phase
        self._views: dict[str, SketchView] | None = None  # None: some view is stale
        self.dropped = 0  # closed sub-windows refused because max_operations was reached

    @property
    def block_s(self) -> float:
        """The length of one block in seconds (the granularity of the window)."""
        return self._block_subs * self._sub_window_ns / 1e9

    @property
    def blocks(self) -> int:
        """Blocks in the window."""
        return self._blocks

    def __len__(self) -> int:
        """Operations with data in the window."""
        return len(self._series)

    def add(self, operation: str, kind: str, data: WindowData) -> None:
        """Merge one closed sub-window of ``operation`` into its block.

        Sub-windows of one operation must come in time order (``pop_closed`` order); one older
        than the window is ignored; one of an operation beyond ``max_operations`` is counted in
        ``dropped``.
        """
        series = self._series.get(operation)
        phase = self._created % self._block_subs if series is None else series.phase
        number = (data.start_ns // self._sub_window_ns + phase) // self._block_subs
        if number < self._oldest(phase):
            return
        if series is None:
            if len(self._series) >= self.max_operations:
                self.dropped += 1
                return
            series = self._series[operation] = _Series(kind, phase)
            self._created += 1
        series.kind = kind
        blocks = series.blocks
        if blocks and blocks[-1].number == number:
            blocks[-1].sketch.merge(data.sketch)
            blocks[-1].errors += data.errors
        elif not blocks or blocks[-1].number < number:
            sketch = ExpSketch(max_size=self._max_size)
            sketch.merge(data.sketch)
            blocks.append(_Block(number, sketch, data.errors))
            series.older = None
        else:
            return  # older than its newest block: the store hands sub-windows out in order
        series.view = None
        self._views = None

    def advance(self, newest_slot: int) -> None:
        """Move the window so that sub-window ``newest_slot`` is its newest; expire old blocks."""
        if self._newest is not None and newest_slot <= self._newest:
            return
        self._newest = newest_slot
        gone = []
        for operation, series in self._series.items():
            blocks = series.blocks
            oldest = self._oldest(series.phase)
            if blocks[0].number >= oldest:
                continue
            while blocks and blocks[0].number < oldest:
                blocks.popleft()
            if not blocks:
                gone.append(operation)
            series.older = series.view = None
            self._views = None
        for operation in gone:
            del self._series[operation]

    def _oldest(self, phase: int) -> int:
        """The oldest block number still in the window for a series of ``phase``."""
        if self._newest is None:
            return -(2**63)
        return (self._newest + phase) // self._block_subs - self._blocks + 1

    def views(self) -> Mapping[str, SketchView]:
        """Return one view per operation with data in the window (the same objects until then).

        Rebuilding a changed operation's view costs one sketch copy and one merge (plus one
        merge per block when a block was added or expired).
        """
        if self._views is None:
            self._views = {
                operation: series.view or self._rebuild(operation, series)
                for operation, series in self._series.items()
            }
        return self._views

    def _rebuild(self, operation: str, series: _Series) -> SketchView:
        *older_blocks, newest = series.blocks
        if series.older is None:
            sketch = ExpSketch(max_size=self._max_size)
            for block in older_blocks:
                sketch.merge(block.sketch)
            series.older = (sketch, sum(block.errors for block in older_blocks))
        older, errors = series.older
        sketch = older.copy()
        sketch.merge(newest.sketch)
        series.view = SketchView(operation, series.kind, sketch, errors + newest.errors)
        return series.view

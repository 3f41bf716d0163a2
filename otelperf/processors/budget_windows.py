"""``BlockWindows``: per-operation data over a budget's own ``over`` window, in bounded memory.

A budget such as ``db.* p95<50ms over 5m`` (``window_s`` 60 s) is judged over the last 5
minutes, built from the closed sub-windows the aggregator's store hands out (``pop_closed``,
10 s each by default). Keeping every sub-window would cost ``over / 10 s`` sketches per
operation (360 for an hour), so consecutive sub-windows are merged into **blocks**: at most
``MAX_BLOCKS`` (12) per operation, each ``ceil(n / 12)`` sub-windows long, aligned on absolute
time so every operation shares the boundaries (``n`` = ``over`` in sub-windows, rounded to the
nearest whole number, at least 1).

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

__all__ = ["BlockWindows"]


class _Block:
    """The merged sub-windows of one block of one operation."""

    __slots__ = ("errors", "number", "sketch")

    def __init__(self, number: int, sketch: ExpSketch, errors: int) -> None:
        self.number = number  # the block's start slot // sub-windows per block
        self.sketch = sketch
        self.errors = errors


class _Series:
    """One operation's blocks, oldest first, and what is derived from them (None: stale)."""

    __slots__ = ("blocks", "kind", "older", "view")

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.blocks: deque[_Block] = deque()
        self.older: tuple[ExpSketch, int] | None = None  # merge of every block but the newest
        self.view: SketchView | None = None


class BlockWindows:
    """The data of every matching operation over one window length (see the module docstring)."""

    __slots__ = (
        "_block_subs",
        "_blocks",
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
    ) -> None:
        """Prepare an empty window of ``window_s`` seconds over sub-windows of ``sub_window_ns``.

        Raises:
            ValueError: A length or bound is not positive.
        """
        if window_s <= 0 or sub_window_ns <= 0 or max_operations < 1 or max_blocks < 1:
            raise ValueError(
                "BlockWindows needs window_s, sub_window_ns, max_operations and max_blocks > 0, "
                f"got {window_s}, {sub_window_ns}, {max_operations}, {max_blocks}"
            )
        subs = max(1, round(window_s * 1e9 / sub_window_ns))
        self.window_s = window_s
        self.max_operations = max_operations
        self._sub_window_ns = sub_window_ns
        self._block_subs = math.ceil(subs / max_blocks)  # sub-windows per block
        self._blocks = subs // self._block_subs  # blocks in the window, <= max_blocks
        self._series: dict[str, _Series] = {}
        self._newest: int | None = None  # the newest block number the window reached
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
        number = data.start_ns // self._sub_window_ns // self._block_subs
        if self._newest is not None and number <= self._newest - self._blocks:
            return
        series = self._series.get(operation)
        if series is None:
            if len(self._series) >= self.max_operations:
                self.dropped += 1
                return
            series = self._series[operation] = _Series(kind)
        series.kind = kind
        blocks = series.blocks
        if blocks and blocks[-1].number == number:
            blocks[-1].sketch.merge(data.sketch)
            blocks[-1].errors += data.errors
        elif not blocks or blocks[-1].number < number:
            blocks.append(_Block(number, data.sketch.copy(), data.errors))
            series.older = None
        else:
            return  # older than its newest block: the store hands sub-windows out in order
        series.view = None
        self._views = None

    def advance(self, newest_slot: int) -> None:
        """Move the window so that sub-window ``newest_slot`` is its newest; expire old blocks."""
        number = newest_slot // self._block_subs
        if self._newest is not None and number <= self._newest:
            return
        self._newest = number
        oldest = number - self._blocks + 1
        gone = []
        for operation, series in self._series.items():
            blocks = series.blocks
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
            if older_blocks:
                sketch = older_blocks[0].sketch.copy()
                for block in older_blocks[1:]:
                    sketch.merge(block.sketch)
                series.older = (sketch, sum(block.errors for block in older_blocks))
            else:
                series.older = (ExpSketch(), 0)
        older, errors = series.older
        sketch = older.copy()
        sketch.merge(newest.sketch)
        series.view = SketchView(operation, series.kind, sketch, errors + newest.errors)
        return series.view

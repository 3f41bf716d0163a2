"""``BlockWindows``: an ``over`` window built from closed sub-windows, in at most 12 blocks."""

from __future__ import annotations

import pytest

from otelperf.aggregates import ExpSketch, WindowData
from otelperf.processors.budget_views import SketchView
from otelperf.processors.budget_windows import BlockWindows

SUB_NS = 10 * 1_000_000_000  # 10-second sub-windows, as with window_s = 60


def closed(slot: int, *durations_ms: float, errors: int = 0) -> WindowData:
    """The closed sub-window number ``slot`` holding ``durations_ms``."""
    sketch = ExpSketch()
    sketch.add_many([d / 1000 for d in durations_ms])
    return WindowData(
        sketch=sketch, errors=errors, start_ns=slot * SUB_NS, end_ns=(slot + 1) * SUB_NS
    )


def blocks(window_s: float, **options: int) -> BlockWindows:
    return BlockWindows(
        window_s=window_s, sub_window_ns=SUB_NS, max_operations=options.get("max_operations", 100)
    )


def fill(window: BlockWindows, slots: range, value_ms: float = 10.0, name: str = "op") -> None:
    """One request of ``value_ms`` per sub-window in ``slots``, advancing like the monitor."""
    for slot in slots:
        window.add(name, "server", closed(slot, value_ms))
        window.advance(slot)


class TestBlockSizes:
    @pytest.mark.parametrize(
        ("window_s", "block_s", "count"),
        [
            (300, 30.0, 10),  # over 5m: 30 sub-windows -> 10 blocks of 3
            (3600, 300.0, 12),  # over 1h: 360 -> 12 blocks of 30
            (21600, 1800.0, 12),  # over 6h
            (30, 10.0, 3),  # shorter than the live window: exact sub-windows
            (250, 30.0, 8),  # 25 sub-windows -> blocks of 3, 8 of them (24 sub-windows)
            (12, 10.0, 1),  # rounded to one sub-window
        ],
    )
    def test_block_length_and_count(self, window_s: float, block_s: float, count: int) -> None:
        """At most 12 blocks of whole sub-windows, never covering more than ``over``."""
        window = blocks(window_s)
        assert (window.block_s, window.blocks) == (block_s, count)

    def test_bad_arguments_raise(self) -> None:
        """Non-positive lengths or bounds are refused."""
        with pytest.raises(ValueError, match="BlockWindows needs"):
            BlockWindows(window_s=0, sub_window_ns=SUB_NS, max_operations=1)


class TestCoverage:
    def test_a_5m_window_holds_the_last_five_minutes(self) -> None:
        """With 30 one-request sub-windows closed, the view counts all 30."""
        window = blocks(300)
        fill(window, range(30))
        assert window.views()["op"].count == 30

    def test_old_blocks_leave_a_block_at_a_time(self) -> None:
        """Coverage stays between over - 1 block and over once the window is full."""
        window = blocks(300)
        counts = []
        for slot in range(90):
            fill(window, range(slot, slot + 1))
            counts.append(window.views()["op"].count)
        assert counts[:30] == list(range(1, 31))
        assert set(counts[30:]) == {28, 29, 30}  # 9 full blocks + 1..3 of the newest

    def test_operations_complete_their_blocks_at_different_times(self) -> None:
        """Phases stagger block boundaries, so rebuilds spread over sub-windows; bounds hold."""
        window = blocks(300)
        counts: dict[str, list[int]] = {"a": [], "b": [], "c": []}
        for slot in range(90):
            for name in counts:
                window.add(name, "server", closed(slot, 10))
            window.advance(slot)
            for name, view in window.views().items():
                counts[name].append(view.count)
        for series in counts.values():
            assert set(series[30:]) == {28, 29, 30}
        staggered = [len({counts[name][slot] for name in counts}) for slot in range(30, 90)]
        assert set(staggered) == {3}  # at every sub-window the three are one block-step apart

    def test_the_judged_values_come_from_the_window_only(self) -> None:
        """Slow requests five minutes ago have left; fast ones since decide the p95."""
        window = blocks(300)
        fill(window, range(30), value_ms=500)
        fill(window, range(30, 60), value_ms=20)
        assert window.views()["op"].quantile(0.95) == pytest.approx(20, rel=0.02)

    def test_errors_are_summed_over_the_window(self) -> None:
        """Errors of every covered sub-window add up."""
        window = blocks(300)
        for slot in range(5):
            window.add("op", "server", closed(slot, 10, 20, errors=1))
        window.advance(4)
        view = window.views()["op"]
        assert (view.count, view.errors) == (10, 5)

    def test_an_operation_without_traffic_in_the_window_is_forgotten(self) -> None:
        """When its last block expires the operation leaves (its budget then resolves)."""
        window = blocks(300)
        fill(window, range(3))
        window.advance(40)
        assert window.views() == {}
        assert len(window) == 0

    def test_a_sub_window_older_than_the_window_is_ignored(self) -> None:
        """Late data for a block that already left is not counted."""
        window = blocks(300)
        window.advance(100)
        window.add("op", "server", closed(50, 10))
        assert window.views() == {}

    def test_out_of_order_data_for_one_operation_is_ignored(self) -> None:
        """The store hands sub-windows out in order; an older block than the newest is dropped."""
        window = blocks(300)
        window.add("op", "server", closed(9, 10))
        window.add("op", "server", closed(1, 10))
        window.advance(9)
        assert window.views()["op"].count == 1


class TestViews:
    def test_views_are_reused_until_data_changes(self) -> None:
        """An unchanged window returns the same view objects; new data makes a new one."""
        window = blocks(300)
        fill(window, range(4))
        first = window.views()["op"]
        assert window.views()["op"] is first
        window.advance(4)  # same block: nothing expired
        assert window.views()["op"] is first
        fill(window, range(5, 6))
        assert window.views()["op"] is not first

    def test_view_reads_like_an_operation_view(self) -> None:
        """Count, mean, max, quantiles and count_over in ms, kind as the store gave it."""
        window = blocks(300)
        window.add("op", "client", closed(0, 10, 20, 30, 40))
        view = window.views()["op"]
        assert isinstance(view, SketchView)
        assert (view.operation, view.kind, view.count) == ("op", "client", 4)
        assert view.mean_ms == pytest.approx(25)
        assert view.max_ms == pytest.approx(40)
        assert view.quantile(0.99) == pytest.approx(40, rel=0.01)
        assert view.count_over(25) == 2

    def test_operations_beyond_the_cap_are_counted_not_kept(self) -> None:
        """With max_operations=2 a third operation is dropped and counted."""
        window = blocks(300, max_operations=2)
        for name in ("a", "b", "c"):
            window.add(name, "server", closed(0, 10))
        assert sorted(window.views()) == ["a", "b"]
        assert window.dropped == 1

    def test_memory_is_bounded_by_the_block_count(self) -> None:
        """Six hours of sub-windows for one operation keep at most 12 blocks."""
        window = blocks(3600)
        fill(window, range(6 * 360))
        assert window.views()["op"].count in range(331, 361)
        assert len(window._series["op"].blocks) <= 12

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from otelperf.aggregates import ExpSketch, SlidingWindow
from tests.aggregates._reference import same_histogram

S = 1_000_000_000  # ns per second

# (time the sample is added in s, value in s, is_error), times non-decreasing
timed_samples = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=300),
        st.floats(min_value=1e-6, max_value=100.0),
        st.booleans(),
    ),
    max_size=60,
).map(sorted)


def window_60s() -> SlidingWindow:
    return SlidingWindow(window_ns=60 * S, sub_windows=6)


def sketch_of(values: list[float]) -> ExpSketch:
    sketch = ExpSketch()
    sketch.add_many(values)
    return sketch


class TestConstruction:
    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"sub_windows": 0}, "sub_windows must be at least 1"),
            ({"window_ns": 0}, "positive multiple"),
            ({"window_ns": 60 * S + 1}, "positive multiple"),
            ({"max_size": 2}, "max_size"),
        ],
    )
    def test_rejects_bad_arguments(self, kwargs: dict[str, int], message: str) -> None:
        """Bad window shapes and sketch settings fail at construction."""
        with pytest.raises(ValueError, match=message):
            SlidingWindow(**kwargs)

    def test_reports_its_shape(self) -> None:
        """window_ns and sub_window_ns reflect the arguments."""
        window = SlidingWindow(window_ns=30 * S, sub_windows=3)
        assert (window.window_ns, window.sub_window_ns) == (30 * S, 10 * S)


class TestExpiry:
    @pytest.mark.parametrize(
        ("added_s", "queried_s", "counted"),
        [
            (0.0, 0.0, True),
            (0.0, 59.999, True),
            (0.0, 60.0, False),  # exactly one window later: gone
            (9.999, 59.999, True),
            (9.999, 60.0, False),  # leaves up to one sub-window early
            (15.0, 69.999, True),
            (15.0, 70.0, False),
            (15.0, 500.0, False),
        ],
    )
    def test_samples_leave_on_sub_window_boundaries(
        self, added_s: float, queried_s: float, counted: bool
    ) -> None:
        """A sample counts until the window has moved a full window past its sub-window."""
        window = window_60s()
        window.add(0.1, is_error=False, now_ns=int(added_s * S))
        assert window.snapshot(int(queried_s * S)).count == int(counted)

    @given(samples=timed_samples, queried_s=st.integers(min_value=0, max_value=400))
    def test_no_sample_older_than_the_window_is_counted(
        self, samples: list[tuple[int, float, bool]], queried_s: int
    ) -> None:
        """Samples >= window_s old never count; samples < window_s - sub_window_s always do."""
        window = window_60s()
        for added_s, value, is_error in samples:
            window.add(value, is_error=is_error, now_ns=added_s * S)
        now_s = max([queried_s, *(added_s for added_s, _, _ in samples)])
        snapshot = window.snapshot(now_s * S)
        in_window = [s for s in samples if now_s // 10 - s[0] // 10 < 6]
        assert all(now_s - s[0] < 60 for s in in_window)
        assert all(s in in_window for s in samples if now_s - s[0] < 50)
        assert same_histogram(
            snapshot.sketch.buckets(), sketch_of([value for _, value, _ in in_window]).buckets()
        )
        assert snapshot.errors == sum(is_error for _, _, is_error in in_window)

    def test_time_going_backwards_counts_as_the_latest_time(self) -> None:
        """An earlier now_ns neither rewinds the window nor revives expired samples."""
        window = window_60s()
        window.add(1.0, is_error=False, now_ns=0)
        window.add(2.0, is_error=False, now_ns=65 * S)
        window.add(3.0, is_error=False, now_ns=5 * S)  # stale clock: goes to the live one
        assert window.snapshot(0).count == 2
        assert window.snapshot(0).sketch.min == 2.0


class TestSnapshot:
    def test_window_s_is_the_span_really_covered(self) -> None:
        """Before a full window the span starts at the first sample; after, at the oldest
        sub-window's start."""
        window = window_60s()
        window.add(0.1, is_error=False, now_ns=5 * S)
        assert window.snapshot(20 * S).span_s == 15.0
        assert window.snapshot(125 * S).span_s == 55.0  # slots 7..12 cover 70 s .. 125 s
        assert window.snapshot(125 * S).count == 0

    def test_empty_window_covers_nothing(self) -> None:
        """With no sample ever, the snapshot is empty and spans 0 s."""
        snapshot = window_60s().snapshot(42 * S)
        assert (snapshot.count, snapshot.errors, snapshot.span_s) == (0, 0, 0.0)

    def test_repeated_snapshots_see_new_samples_in_the_live_sub_window(self) -> None:
        """The cached merge of closed sub-windows never hides later live samples."""
        window = window_60s()
        window.add(1.0, is_error=False, now_ns=1 * S)
        window.add(2.0, is_error=True, now_ns=11 * S)
        assert window.snapshot(12 * S).count == 2
        window.add(3.0, is_error=True, now_ns=13 * S)
        snapshot = window.snapshot(14 * S)
        assert (snapshot.count, snapshot.errors, snapshot.sketch.max) == (3, 2, 3.0)
        window.add(4.0, is_error=False, now_ns=21 * S)
        assert window.snapshot(21 * S).count == 4

    def test_unchanged_window_returns_the_same_sketch(self) -> None:
        """Snapshots share one sketch until a sample arrives or the window rotates."""
        window = window_60s()
        window.add(1.0, is_error=False, now_ns=0)
        first = window.snapshot(1 * S).sketch
        assert window.snapshot(9 * S).sketch is first
        window.add(2.0, is_error=False, now_ns=9 * S)
        second = window.snapshot(9 * S).sketch
        assert second is not first and second.count == 2
        assert window.snapshot(10 * S).sketch is not second  # rotated: slot 0 closed

    def test_add_many_counts_errors_and_checks_them(self) -> None:
        """A batch carries its error count, which must not exceed the batch size."""
        window = window_60s()
        window.add_many([0.1, 0.2, 0.3], errors=2, now_ns=0)
        assert window.snapshot(0).errors == 2
        with pytest.raises(ValueError, match="errors must be in"):
            window.add_many([0.1], errors=2, now_ns=0)

    def test_an_empty_batch_only_advances_time(self) -> None:
        """add_many([]) creates no sub-window but still moves the window."""
        window = window_60s()
        window.add(0.5, is_error=False, now_ns=0)
        window.add_many([], errors=0, now_ns=70 * S)
        assert window.snapshot(70 * S).count == 0
        assert window.cumulative(70 * S).count == 1


class TestCumulative:
    @given(samples=timed_samples, queried_s=st.integers(min_value=0, max_value=600))
    def test_cumulative_equals_everything_ever_added(
        self, samples: list[tuple[int, float, bool]], queried_s: int
    ) -> None:
        """Retired plus live sub-windows hold every sample and error, exactly once."""
        window = window_60s()
        for added_s, value, is_error in samples:
            window.add(value, is_error=is_error, now_ns=added_s * S)
        data = window.cumulative(queried_s * S)
        expected = sketch_of([value for _, value, _ in samples])
        assert same_histogram(data.sketch.buckets(), expected.buckets())
        assert data.errors == sum(is_error for _, _, is_error in samples)

    def test_cumulative_spans_from_the_first_sample(self) -> None:
        """start_ns is the first sample's time, end_ns the latest time seen."""
        window = window_60s()
        assert window.cumulative(3 * S).span_s == 0.0
        window.add(0.1, is_error=False, now_ns=7 * S)
        data = window.cumulative(300 * S)
        assert (data.start_ns, data.end_ns, data.count) == (7 * S, 300 * S, 1)


class TestPopClosed:
    def test_closed_sub_windows_are_returned_once_oldest_first(self) -> None:
        """Each closed, non-empty sub-window comes back once, with its bounds and counts."""
        window = window_60s()
        window.add_many([0.1, 0.5], errors=1, now_ns=1 * S)
        window.add_many([0.2], errors=0, now_ns=25 * S)  # slot 1 (10-20 s) stays empty
        closed = window.pop_closed(29 * S)
        assert [(c.start_ns, c.end_ns, c.count, c.errors) for c in closed] == [(0, 10 * S, 2, 1)]
        window.add_many([0.3], errors=0, now_ns=31 * S)
        closed = window.pop_closed(31 * S)
        assert [(c.start_ns, c.end_ns, c.count, c.errors) for c in closed] == [
            (20 * S, 30 * S, 1, 0)
        ]
        assert closed[0].sketch.count_over(0.15) == 1
        assert window.pop_closed(39 * S) == ()  # 30-40 s is still live

    def test_first_call_returns_every_closed_sub_window_in_the_window(self) -> None:
        """Before any pop, all closed sub-windows still in the window are pending."""
        window = window_60s()
        window.add(0.1, is_error=True, now_ns=1 * S)
        window.add(0.2, is_error=False, now_ns=12 * S)
        window.add(0.3, is_error=False, now_ns=22 * S)
        closed = window.pop_closed(22 * S)
        assert [(c.start_ns, c.errors) for c in closed] == [(0, 1), (10 * S, 0)]

    def test_sub_windows_that_leave_unseen_are_counted_as_missed(self) -> None:
        """Popping too rarely loses closed sub-windows, and says how many."""
        window = window_60s()
        window.pop_closed(0)
        window.add(0.1, is_error=False, now_ns=1 * S)
        window.add(0.1, is_error=False, now_ns=11 * S)
        assert window.missed_closed == 0
        closed = window.pop_closed(65 * S)  # slot 0 retired unseen; slot 1 still returned
        assert [c.start_ns for c in closed] == [10 * S]
        assert window.missed_closed == 1

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otelperf.aggregates import ExpSketch
from otelperf.live.buckets import buckets_of, sketch_of
from tests.live.points import duration_point

durations = st.lists(
    st.one_of(st.just(0.0), st.floats(min_value=1e-6, max_value=100.0)), min_size=1, max_size=300
)


class TestSketchOf:
    @settings(max_examples=150, deadline=None)
    @given(durations)
    def test_holds_exactly_the_received_bucket_counts(self, values: list[float]) -> None:
        """A sketch rebuilt from a point has the point's scale, offset, counts and zeros."""
        original = ExpSketch()
        original.add_many(values)
        received = original.buckets()
        rebuilt = sketch_of(received).buckets()
        assert (rebuilt.scale, rebuilt.offset, rebuilt.counts) == (
            received.scale,
            received.offset,
            received.counts,
        )
        assert (rebuilt.zero_count, rebuilt.count) == (received.zero_count, received.count)
        assert rebuilt.min == received.min and rebuilt.max == received.max

    def test_unknown_extremes_fall_back_to_midpoints(self) -> None:
        """Without min/max (a delta), the first and last buckets get midpoints."""
        original = ExpSketch()
        original.add_many([0.010, 0.020, 0.400])
        delta = replace(original.buckets(), min=None, max=None)
        rebuilt = sketch_of(delta)
        assert rebuilt.buckets().counts == delta.counts
        assert rebuilt.min == pytest.approx(0.010, rel=0.01)
        assert rebuilt.max == pytest.approx(0.400, rel=0.01)

    def test_merging_rebuilt_sketches_equals_merging_the_originals(self) -> None:
        """The fleet merge of received points is the merge of the senders' sketches."""
        a, b = ExpSketch(), ExpSketch()
        a.add_many(i / 1000 for i in range(1, 500))
        b.add_many(i / 10 for i in range(1, 50))
        expected = a.copy()
        expected.merge(b)
        merged = sketch_of(a.buckets())
        merged.merge(sketch_of(b.buckets()))
        assert merged.buckets().counts == expected.buckets().counts
        assert merged.quantiles((0.5, 0.99)) == expected.quantiles((0.5, 0.99))


class TestBucketsOf:
    def test_reads_a_duration_point(self) -> None:
        """A received exponential-histogram point becomes the same ExpBuckets."""
        sketch = ExpSketch()
        sketch.add_many([0.001, 0.002, 0.5])
        point = duration_point("GET /a", sketch, start_ns=1, time_ns=2)
        assert buckets_of(point) == sketch.buckets()

    @pytest.mark.parametrize(
        "change",
        [
            {"type": "gauge"},
            {"scale": None},
            {"scale": 99},
            {"negative_bucket_counts": (1,)},
            {"count": 12345},
        ],
    )
    def test_rejects_points_that_cannot_be_durations(self, change: dict[str, Any]) -> None:
        """Malformed or negative histograms are refused, not guessed at."""
        sketch = ExpSketch()
        sketch.add_many([0.001, 0.002])
        point = replace(duration_point("GET /a", sketch, start_ns=1, time_ns=2), **change)
        assert buckets_of(point) is None

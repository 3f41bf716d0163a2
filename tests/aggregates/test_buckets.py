from __future__ import annotations

import math
from dataclasses import replace

import pytest

from otelperf.aggregates import ExpBuckets, ExpSketch, midpoint


def view(
    counts: tuple[int, ...] = (2, 0, 1),
    *,
    offset: int = 0,
    zero_count: int = 0,
    count: int | None = None,
    bounds: tuple[float, float] | None = None,
    scale: int = 0,
) -> ExpBuckets:
    return ExpBuckets(
        scale=scale,
        offset=offset,
        counts=counts,
        zero_count=zero_count,
        count=sum(counts) + zero_count if count is None else count,
        sum=1.0,
        min=None if bounds is None else bounds[0],
        max=None if bounds is None else bounds[1],
    )


class TestValidation:
    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"scale": 21}, "scale must be in"),
            ({"counts": (1, -1, 1)}, "must not be negative"),
            ({"zero_count": -1, "count": 3}, "must not be negative"),
            ({"count": 4}, "count 4 != zero_count 0 \\+ bucket counts 3"),
        ],
    )
    def test_inconsistent_views_are_refused(self, kwargs: dict[str, object], message: str) -> None:
        """Out-of-range scales, negative counts and wrong totals raise."""
        with pytest.raises(ValueError, match=message):
            view(**kwargs)  # type: ignore[arg-type]

    def test_relative_error_follows_the_scale(self) -> None:
        """The view reports the error bound of its scale."""
        assert view(scale=6).relative_error == pytest.approx(0.00543, rel=1e-3)


class TestReadsWithoutMinMax:
    def test_quantiles_use_bucket_midpoints_at_the_extremes(self) -> None:
        """Without min/max (a delta), rank 0 and n-1 come from their buckets' midpoints."""
        buckets = view((2, 0, 1), offset=10, scale=0)
        low, high = buckets.quantiles([0.0, 1.0])
        assert (low, high) == (midpoint(10, 0), midpoint(12, 0))

    def test_quantiles_of_an_empty_view_are_nan(self) -> None:
        """No values: NaN."""
        assert math.isnan(view(()).quantile(0.5))

    @pytest.mark.parametrize(
        ("threshold", "expected"),
        [(-1.0, 4), (0.0, 3), (math.inf, 0), (2.5, 1), (1e-300, 3), (1e300, 0)],
    )
    def test_count_over_without_min_max(self, threshold: float, expected: int) -> None:
        """Negative, zero, infinite and in-range thresholds work from the buckets alone."""
        # buckets (1, 2] x2 and (4, 8] x1 at scale 0, plus one zero
        assert view((2, 0, 1), offset=0, zero_count=1).count_over(threshold) == expected

    def test_minus_of_views_without_min_max_chains(self) -> None:
        """A delta can itself be the 'now' of another delta."""
        first = ExpSketch()
        first.add_many([1.0, 2.0])
        second = first.copy()
        second.add_many([2.0, 8.0])
        third = second.copy()
        third.add(8.0)
        delta = third.buckets().minus(first.buckets())
        assert delta.minus(replace(delta, counts=(), count=0, offset=0, sum=0.0)) == delta
        assert delta.count == 3

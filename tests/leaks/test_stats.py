"""The robust statistics behind the analyzer: Theil-Sen, running floor, steadiness, level."""

from __future__ import annotations

import pytest

from otelperf.leaks._stats import running_floor, steady_rise, theil_sen, upper_level


class TestTheilSen:
    @pytest.mark.parametrize(
        ("ys", "slope", "confidence"),
        [
            ([1.0, 3.0, 5.0, 7.0], 2.0, 1.0),
            ([7.0, 5.0, 3.0, 1.0], -2.0, 0.0),
            ([4.0, 4.0, 4.0, 4.0], 0.0, 0.5),
            ([1.0, 3.0, 100.0, 7.0, 9.0], 2.0, 0.8),  # one outlier: 8 of 10 pairs rise
        ],
    )
    def test_slope_and_share_of_rising_pairs(
        self, ys: list[float], slope: float, confidence: float
    ) -> None:
        """The median pairwise slope resists outliers; ties count half towards confidence."""
        ts = [float(i) for i in range(len(ys))]
        assert theil_sen(ts, ys) == pytest.approx((slope, confidence))

    @pytest.mark.parametrize("n", [0, 1])
    def test_fewer_than_two_points_give_zero(self, n: int) -> None:
        """No pair, no slope: (0.0, 0.0)."""
        assert theil_sen([0.0] * n, [1.0] * n) == (0.0, 0.0)

    def test_even_number_of_slopes_takes_the_middle_mean(self) -> None:
        """With an even number of pairwise slopes the median is the mean of the middle two."""
        ts, ys = [0.0, 1.0, 2.0, 3.0], [0.0, 1.0, 3.0, 7.0]
        # slopes sorted: 1, 1.5, 2, 7/3, 3, 4 -> median (2 + 7/3) / 2
        assert theil_sen(ts, ys)[0] == pytest.approx((2 + 7 / 3) / 2)


class TestRunningFloor:
    def test_sawtooth_becomes_its_troughs(self) -> None:
        """A sawtooth shorter than the width flattens to the minimum of each neighbourhood."""
        ts = [float(i) for i in range(40)]
        ys = [float(i % 5) for i in range(40)]
        assert set(running_floor(ts, ys, width_s=10.0)) == {0.0}

    def test_trend_keeps_its_slope(self) -> None:
        """A straight rising line shifts down by half the width and keeps its slope."""
        ts = [float(i) for i in range(20)]
        floor = running_floor(ts, [2.0 * t for t in ts], width_s=4.0)
        assert floor[10] == pytest.approx(16.0)
        assert floor[0] == 0.0
        assert theil_sen(ts, floor)[0] == pytest.approx(2.0)

    def test_zero_width_is_the_series_itself(self) -> None:
        """With no width each point is its own floor."""
        ts, ys = [0.0, 1.0, 2.0], [3.0, 1.0, 2.0]
        assert running_floor(ts, ys, width_s=0.0) == ys


class TestSteadyRise:
    @pytest.mark.parametrize(
        ("ys", "steady"),
        [
            ([float(i) for i in range(12)], True),
            ([0.0] * 6 + [10.0] * 6, False),  # a step: one increment holds it all
            ([0.0, 5.0] * 6, False),  # sawtooth: minima do not rise
            ([float(12 - i) for i in range(12)], False),  # falling
            ([0.0, 0.0, 2.0, 2.0, 1.5, 1.5, 4.0, 4.0, 6.0, 6.0, 8.0, 8.0], True),  # one dip allowed
        ],
        ids=["line", "step", "sawtooth", "falling", "one dip"],
    )
    def test_only_spread_out_rises_are_steady(self, ys: list[float], steady: bool) -> None:
        """A line is steady; a step, a sawtooth and a fall are not; one flat slice is tolerated."""
        ts = [float(i) for i in range(len(ys))]
        assert steady_rise(ts, ys, slices=6, max_share=0.5) is steady

    def test_gap_in_the_data_is_not_judged_steady(self) -> None:
        """A slice without points means no claim of steadiness."""
        ts = [0.0, 1.0, 2.0, 10.0, 11.0, 12.0]
        assert steady_rise(ts, ts, slices=6, max_share=0.9) is False

    @pytest.mark.parametrize(("n", "slices"), [(1, 6), (10, 1)])
    def test_degenerate_input_is_not_steady(self, n: int, slices: int) -> None:
        """One point, or one slice, says nothing about steadiness."""
        ts = [float(i) for i in range(n)]
        assert steady_rise(ts, ts, slices=slices, max_share=1.0) is False


class TestUpperLevel:
    def test_projects_points_along_the_rate_and_takes_the_quantile(self) -> None:
        """Points on a rising line project to the same level: the last value."""
        ts = [float(i) for i in range(10)]
        assert upper_level(ts, [3.0 * t for t in ts], rate=3.0, quantile=0.9) == 27.0

    def test_quantile_picks_the_peaks_of_a_flat_series(self) -> None:
        """Without growth the 0.9 quantile is near the top of the values."""
        ts = [float(i) for i in range(10)]
        assert upper_level(ts, ts, rate=0.0, quantile=0.9) == 9.0
        assert upper_level(ts, ts, rate=0.0, quantile=0.5) == 5.0

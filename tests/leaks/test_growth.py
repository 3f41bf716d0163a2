"""GrowthAnalyzer: verdicts on synthetic memory series with known truth, ETA, bounds, validation."""

from __future__ import annotations

import math
import random
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otelperf.leaks import BYTES_PER_MB, GrowthAnalyzer, GrowthReport, Verdict

MB = BYTES_PER_MB
BASE = 200 * MB
WINDOW_S = 3600.0
WARMUP_S = 300.0

Shape = Callable[[float, random.Random], float]  # (seconds since start, rng) -> bytes


class FakeClock:
    """A monotonic nanosecond clock that only moves when told to."""

    def __init__(self) -> None:
        self.now_ns = 0

    def __call__(self) -> int:
        return self.now_ns

    def advance(self, seconds: float) -> None:
        self.now_ns += round(seconds * 1e9)


def feed(
    analyzer: GrowthAnalyzer,
    shape: Shape,
    *,
    duration_s: float = WARMUP_S + WINDOW_S,
    interval_s: float = 10.0,
    seed: int = 0,
) -> None:
    """Sample ``shape`` every ``interval_s`` on a fake clock and feed the analyzer."""
    rng, clock = random.Random(seed), FakeClock()
    while clock() <= duration_s * 1e9:
        value = max(0, round(shape(clock() / 1e9, rng)))
        analyzer.add(timestamp_ns=clock(), value_bytes=value)
        clock.advance(interval_s)


def noise(rng: random.Random, sigma_mb: float = 1.0) -> float:
    return rng.gauss(0.0, sigma_mb * MB)


def leak(rate_mb_per_h: float) -> Shape:
    return lambda t, rng: BASE + rate_mb_per_h * MB * t / 3600 + noise(rng)


def sawtooth(period_s: float, amplitude_mb: float = 50.0) -> Shape:
    return lambda t, rng: BASE + amplitude_mb * MB * ((t / period_s) % 1.0) + noise(rng)


def step(at_fraction: float, height_mb: float = 80.0) -> Shape:
    """A cache filled in one go ``at_fraction`` into the post-warm-up window, then a plateau."""
    at_s = WARMUP_S + at_fraction * WINDOW_S
    return lambda t, rng: BASE + (height_mb * MB if t >= at_s else 0.0) + noise(rng)


SCENARIOS: list[tuple[str, Shape, Verdict]] = [
    ("flat with noise", lambda t, rng: BASE + noise(rng), Verdict.STABLE),
    ("flat with 5 MB noise", lambda t, rng: BASE + noise(rng, 5.0), Verdict.STABLE),
    ("GC sawtooth, 5 min period", sawtooth(300.0), Verdict.STABLE),
    ("GC sawtooth, 25 min period", sawtooth(1500.0), Verdict.STABLE),
    ("GC sawtooth aliased by sampling", sawtooth(10.5, 30.0), Verdict.STABLE),
    ("slow leak below threshold, 5 MB/h", leak(5.0), Verdict.STABLE),
    ("steady leak, 20 MB/h", leak(20.0), Verdict.LEAK_SUSPECTED),
    ("steady leak, 12 MB/h", leak(12.0), Verdict.LEAK_SUSPECTED),
    (
        "steady leak under a GC sawtooth",
        lambda t, rng: sawtooth(300.0)(t, rng) + 20.0 * MB * t / 3600,
        Verdict.LEAK_SUSPECTED,
    ),
    (
        "chunky leak, 15 MB every 10 min",
        lambda t, rng: BASE + 15 * MB * (t // 600) + noise(rng),
        Verdict.LEAK_SUSPECTED,
    ),
    ("cache step at 30 % then plateau", step(0.3), Verdict.STABLE),
    ("cache step at 50 % then plateau", step(0.5), Verdict.STABLE),
    ("cache step at 70 % then plateau", step(0.7), Verdict.STABLE),
    (
        "cache step at 20 % over a sub-threshold drift of 8 MB/h",
        lambda t, rng: step(0.2)(t, rng) + 8.0 * MB * t / 3600,
        Verdict.STABLE,
    ),
    (
        "cache step at 65 % over a sub-threshold drift of 5 MB/h",
        lambda t, rng: step(0.65)(t, rng) + 5.0 * MB * t / 3600,
        Verdict.STABLE,
    ),
    (
        "two cache steps then plateau",
        lambda t, rng: BASE + 40 * MB * ((t > 1200) + (t > 2400)) + noise(rng),
        Verdict.STABLE,
    ),
    (
        "cache ramp over 30 min then plateau",
        lambda t, rng: BASE + 60 * MB * min(t, 1800.0) / 1800 + noise(rng),
        Verdict.STABLE,
    ),
]


def analyse(shape: Shape, *, seed: int = 0, limit_bytes: int | None = None) -> GrowthReport:
    analyzer = GrowthAnalyzer(window_s=WINDOW_S, warmup_s=WARMUP_S, min_growth_mb_per_h=10.0)
    feed(analyzer, shape, seed=seed)
    return analyzer.report(limit_bytes=limit_bytes)


class TestVerdicts:
    @pytest.mark.parametrize(
        ("shape", "expected"),
        [pytest.param(shape, verdict, id=name) for name, shape, verdict in SCENARIOS],
    )
    @pytest.mark.parametrize("seed", range(3))
    def test_verdict_matches_the_shape_of_the_series(
        self, shape: Shape, expected: Verdict, seed: int
    ) -> None:
        """Each synthetic series gets the verdict its shape calls for, whatever the noise draw."""
        assert analyse(shape, seed=seed).verdict is expected

    @pytest.mark.parametrize("rate_mb_per_h", [12.0, 20.0, 60.0, 200.0])
    def test_leak_growth_rate_is_within_20_percent(self, rate_mb_per_h: float) -> None:
        """A steady leak's reported growth is within ±20 % of the true rate."""
        report = analyse(leak(rate_mb_per_h))
        assert report.verdict is Verdict.LEAK_SUSPECTED
        assert report.growth_mb_per_h == pytest.approx(rate_mb_per_h, rel=0.2)
        assert report.slope_bytes_per_s * 3600 / MB == pytest.approx(report.growth_mb_per_h)

    def test_leak_under_a_sawtooth_reports_the_leak_rate(self) -> None:
        """The floor ignores the sawtooth: growth is the underlying leak's, not the teeth's."""
        report = analyse(lambda t, rng: sawtooth(300.0)(t, rng) + 20.0 * MB * t / 3600)
        assert report.growth_mb_per_h == pytest.approx(20.0, rel=0.2)

    def test_step_is_not_confused_with_a_leak_of_the_same_total_rise(self) -> None:
        """80 MB in one step is stable; 80 MB spread evenly over the window is a leak."""
        rise_mb_per_h = 80.0 * 3600 / (WARMUP_S + WINDOW_S)
        assert analyse(step(0.5, 80.0)).verdict is Verdict.STABLE
        assert analyse(leak(rise_mb_per_h)).verdict is Verdict.LEAK_SUSPECTED

    def test_leak_has_high_confidence_and_flat_has_none(self) -> None:
        """Confidence is near 1 for a steady leak and near 0.5 (no trend) for flat noise."""
        assert analyse(leak(20.0)).confidence > 0.9
        assert analyse(lambda t, rng: BASE + noise(rng)).confidence == pytest.approx(0.5, abs=0.15)

    def test_young_process_with_steady_growth_is_growing(self) -> None:
        """Growth seen over less than the window is growing, not yet a leak."""
        analyzer = GrowthAnalyzer(window_s=WINDOW_S, warmup_s=WARMUP_S)
        feed(analyzer, leak(60.0), duration_s=WARMUP_S + 0.8 * WINDOW_S)
        report = analyzer.report()
        assert report.verdict is Verdict.GROWING
        assert report.recent_slope_bytes_per_s * 3600 / MB == pytest.approx(60.0, rel=0.2)

    def test_too_few_samples_is_insufficient_data(self) -> None:
        """Below min_samples points nothing is claimed, even for an obvious leak."""
        analyzer = GrowthAnalyzer(window_s=WINDOW_S, warmup_s=0.0, min_samples=24)
        feed(analyzer, leak(500.0), duration_s=22 * 30.0, interval_s=30.0)
        report = analyzer.report(limit_bytes=10 * BASE)
        assert report.samples == 23
        assert report.verdict is Verdict.INSUFFICIENT_DATA
        assert report.eta_s is None

    def test_empty_analyzer_reports_insufficient_data(self) -> None:
        """A fresh analyzer reports no samples, no level and no ETA."""
        report = GrowthAnalyzer().report(limit_bytes=MB)
        assert report.verdict is Verdict.INSUFFICIENT_DATA
        assert (report.samples, report.span_s, report.level_bytes, report.eta_s) == (
            0,
            0.0,
            None,
            None,
        )

    def test_verdict_compares_equal_to_its_string(self) -> None:
        """Verdicts are str enums, so metrics and alerts can use them as plain labels."""
        label: str = Verdict.LEAK_SUSPECTED
        assert label == "leak_suspected"
        assert {v.value for v in Verdict} == {
            "insufficient_data",
            "stable",
            "growing",
            "leak_suspected",
        }


def verdicts_over_time(
    shape: Shape, *, duration_s: float = WARMUP_S + 1.5 * WINDOW_S, seed: int = 0
) -> list[tuple[float, Verdict]]:
    """Feed ``shape`` every 10 s and take the verdict after every sample, as the monitor does."""
    analyzer = GrowthAnalyzer(window_s=WINDOW_S, warmup_s=WARMUP_S, min_growth_mb_per_h=10.0)
    rng, verdicts, t = random.Random(seed), [], 0.0
    while t <= duration_s:
        analyzer.add(timestamp_ns=round(t * 1e9), value_bytes=max(0, round(shape(t, rng))))
        verdicts.append((t, analyzer.report().verdict))
        t += 10.0
    return verdicts


def ramp(start_s: float, length_s: float, height_mb: float = 80.0) -> Shape:
    """A cache filling linearly from ``start_s`` for ``length_s``, then full."""
    return lambda t, rng: BASE + height_mb * MB * min(1.0, max(0.0, t - start_s) / length_s)


def creep(rate_mb_per_h: float) -> Shape:
    """Slow sub-threshold growth (fragmentation, a warming process) with noise."""
    return lambda t, rng: rate_mb_per_h * MB * t / 3600 + noise(rng, 0.3)


class TestOverTime:
    @pytest.mark.parametrize(
        "start_s",
        [WARMUP_S + 600, WARMUP_S + 1200, WARMUP_S + 2400, WARMUP_S + 4200],
        ids=["young process", "half window", "window old", "after a full window"],
    )
    @pytest.mark.parametrize("length_s", [60.0, 900.0], ids=["fast fill", "15 min fill"])
    @pytest.mark.parametrize("creep_mb_per_h", [0.0, 5.0, 9.0])
    def test_cache_fill_over_creep_is_never_a_leak_at_any_moment(
        self, start_s: float, length_s: float, creep_mb_per_h: float
    ) -> None:
        """A cache filling fast over a creeping baseline: never leak_suspected, sample by sample."""
        shape, baseline = ramp(start_s, length_s), creep(creep_mb_per_h)
        with_creep: Shape = lambda t, rng: shape(t, rng) + baseline(t, rng)  # noqa: E731
        flagged = [t for t, v in verdicts_over_time(with_creep) if v is Verdict.LEAK_SUSPECTED]
        assert flagged == []

    @pytest.mark.parametrize("rate_mb_per_h", [12.0, 20.0, 100.0])
    def test_steady_leak_is_flagged_within_warmup_plus_one_window(
        self, rate_mb_per_h: float
    ) -> None:
        """A leak from the start is suspected by warm-up + one window, and stays suspected."""
        timeline = verdicts_over_time(leak(rate_mb_per_h))
        first = next(t for t, v in timeline if v is Verdict.LEAK_SUSPECTED)
        assert first <= WARMUP_S + WINDOW_S
        assert all(v is Verdict.LEAK_SUSPECTED for t, v in timeline if t > WARMUP_S + WINDOW_S)


class TestWarmup:
    def test_samples_inside_warmup_are_ignored(self) -> None:
        """Only samples from warmup_s after the first one count."""
        analyzer = GrowthAnalyzer(window_s=WINDOW_S, warmup_s=600.0)
        feed(analyzer, leak(20.0), duration_s=599.0, interval_s=1.0)
        assert analyzer.report().samples == 0
        feed_more = [(600 + 30 * i, BASE) for i in range(3)]
        for t_s, value in feed_more:
            analyzer.add(timestamp_ns=t_s * 10**9, value_bytes=value)
        assert analyzer.report().samples == 3

    @pytest.mark.parametrize(
        ("warmup_s", "expected"),
        [(0.0, Verdict.LEAK_SUSPECTED), (55 * 60.0, Verdict.INSUFFICIENT_DATA)],
    )
    def test_growth_during_warmup_is_not_judged(self, warmup_s: float, expected: Verdict) -> None:
        """62 min of steady growth is a leak without warm-up, but not when 55 min are warm-up."""
        analyzer = GrowthAnalyzer(window_s=WINDOW_S, warmup_s=warmup_s)
        feed(analyzer, leak(100.0), duration_s=62 * 60.0)
        assert analyzer.report().verdict is expected


class TestEta:
    @pytest.mark.parametrize("rate_mb_per_h", [20.0, 100.0])
    def test_eta_is_within_20_percent_of_truth_for_a_steady_leak(
        self, rate_mb_per_h: float
    ) -> None:
        """With a limit, the time to reach it matches the true leak's within 20 %."""
        limit_bytes = 1000 * MB
        report = analyse(leak(rate_mb_per_h), limit_bytes=limit_bytes)
        now_s = WARMUP_S + WINDOW_S
        true_level = BASE + rate_mb_per_h * MB * now_s / 3600
        true_eta_s = (limit_bytes - true_level) / (rate_mb_per_h * MB / 3600)
        assert report.eta_s == pytest.approx(true_eta_s, rel=0.2)
        assert report.limit_bytes == limit_bytes
        assert report.level_bytes == pytest.approx(true_level, rel=0.02)

    @pytest.mark.parametrize(
        "shape", [pytest.param(s, id=n) for n, s, v in SCENARIOS if v is Verdict.STABLE]
    )
    def test_no_eta_when_not_growing(self, shape: Shape) -> None:
        """A stable series has no ETA even with a limit."""
        assert analyse(shape, limit_bytes=1000 * MB).eta_s is None

    def test_no_eta_without_a_limit(self) -> None:
        """A leak without a known limit has no ETA."""
        report = analyse(leak(20.0))
        assert (report.eta_s, report.limit_bytes) == (None, None)

    def test_eta_is_zero_when_the_limit_is_already_passed(self) -> None:
        """A leak already above its limit has an ETA of 0, not a negative one."""
        assert analyse(leak(20.0), limit_bytes=100 * MB).eta_s == 0.0

    def test_usage_bytes_replaces_the_level(self) -> None:
        """The ETA counts from usage_bytes when given (virtual size against RLIMIT_AS)."""
        analyzer = GrowthAnalyzer()
        feed(analyzer, leak(36.0))
        report = analyzer.report(limit_bytes=1000 * MB, usage_bytes=900 * MB)
        assert report.eta_s == pytest.approx(100 * MB / report.rate_bytes_per_s)

    def test_rate_of_a_leak_that_began_inside_the_window_is_the_recent_one(self) -> None:
        """After a slow drift, a fast leak's rate (and ETA) follow the leak, not the window."""

        def drift_then_leak(t: float, rng: random.Random) -> float:
            # 8 MB/h drift, then from 40 % into the window a 100 MB/h leak on top of it.
            began_s = WARMUP_S + 0.4 * WINDOW_S
            return leak(8.0)(t, rng) + 100.0 * MB * max(0.0, t - began_s) / 3600

        report = analyse(drift_then_leak, limit_bytes=2000 * MB)
        assert report.verdict is Verdict.LEAK_SUSPECTED
        true_rate = 108.0 * MB / 3600
        assert report.slope_bytes_per_s < 0.8 * true_rate  # the window's median lags
        assert report.rate_bytes_per_s == pytest.approx(true_rate, rel=0.2)
        assert report.eta_s is not None and report.level_bytes is not None
        assert report.eta_s == pytest.approx((2000 * MB - report.level_bytes) / true_rate, rel=0.2)


class TestBounds:
    def test_points_are_capped_and_faster_samples_decimated(self) -> None:
        """Samples faster than window_s / max_points are counted, not kept."""
        analyzer = GrowthAnalyzer(window_s=600.0, warmup_s=0.0, max_points=60)
        feed(analyzer, leak(20.0), duration_s=1800.0, interval_s=1.0)
        report = analyzer.report()
        assert report.samples <= 61
        assert report.span_s <= 600.0
        assert analyzer.decimated > 1500

    @pytest.mark.parametrize(
        ("timestamp_ns", "value_bytes"),
        [(5, BASE), (4, BASE), (10, -1), (10, 2**64)],
        ids=["same time", "backwards", "negative", "absurd"],
    )
    def test_bad_samples_are_rejected_and_counted(
        self, timestamp_ns: int, value_bytes: int
    ) -> None:
        """Out-of-order and out-of-range samples are dropped without raising."""
        analyzer = GrowthAnalyzer(warmup_s=0.0)
        analyzer.add(timestamp_ns=5, value_bytes=BASE)
        analyzer.add(timestamp_ns=timestamp_ns, value_bytes=value_bytes)
        assert (analyzer.rejected, analyzer.report().samples) == (1, 1)

    def test_reset_forgets_everything_and_restarts_warmup(self) -> None:
        """After reset the next sample starts a new warm-up."""
        analyzer = GrowthAnalyzer(window_s=WINDOW_S, warmup_s=WARMUP_S)
        feed(analyzer, leak(20.0))
        analyzer.reset()
        assert analyzer.report().samples == 0
        analyzer.add(timestamp_ns=0, value_bytes=BASE)  # earlier than before: fine after reset
        assert (analyzer.rejected, analyzer.report().samples) == (0, 0)

    def test_report_is_recomputed_only_when_points_change(self) -> None:
        """A report without new points returns the same numbers (the cached trend)."""
        analyzer = GrowthAnalyzer()
        feed(analyzer, leak(20.0))
        first = analyzer.report()
        assert analyzer.report() == first
        analyzer.add(timestamp_ns=10**15, value_bytes=BASE * 3)
        assert analyzer.report() != first


class TestValidation:
    @pytest.mark.parametrize(
        ("kwargs", "names"),
        [
            ({"window_s": 0.0}, "window_s"),
            ({"window_s": math.inf}, "window_s"),
            ({"warmup_s": -1.0}, "warmup_s"),
            ({"min_growth_mb_per_h": -1.0}, "min_growth_mb_per_h"),
            ({"segments": 2}, "segments"),
            ({"min_samples": 11, "segments": 6}, "min_samples"),
            ({"max_points": 20, "min_samples": 24}, "max_points"),
            ({"min_confidence": 0.5}, "min_confidence"),
            ({"min_confidence": 1.5}, "min_confidence"),
        ],
    )
    def test_bad_argument_raises_value_error_naming_it(
        self, kwargs: dict[str, float], names: str
    ) -> None:
        """Each invalid constructor argument raises ValueError naming the argument."""
        with pytest.raises(ValueError, match=names):
            GrowthAnalyzer(**kwargs)  # type: ignore[arg-type]


samples_strategy = st.lists(
    st.tuples(st.integers(-(2**70), 2**70), st.integers(-(2**10), 2**66)), max_size=150
)


class TestProperties:
    @settings(max_examples=150, deadline=None)
    @given(
        samples=samples_strategy,
        sorted_times=st.booleans(),
        window_s=st.floats(1e-6, 1e6),
        warmup_s=st.floats(0.0, 1e3),
        min_growth=st.floats(0.0, 1e6),
        limit_bytes=st.none() | st.integers(0, 2**64),
    )
    def test_never_raises_and_reports_sane_values(
        self,
        samples: list[tuple[int, int]],
        sorted_times: bool,
        window_s: float,
        warmup_s: float,
        min_growth: float,
        limit_bytes: int | None,
    ) -> None:
        """Any sample sequence gives a report with bounded, finite, consistent fields."""
        if sorted_times:
            samples = sorted(samples)
        analyzer = GrowthAnalyzer(
            window_s=window_s,
            warmup_s=warmup_s,
            min_growth_mb_per_h=min_growth,
            min_samples=12,
            max_points=40,
        )
        for timestamp_ns, value_bytes in samples:
            analyzer.add(timestamp_ns=timestamp_ns, value_bytes=value_bytes)
        report = analyzer.report(limit_bytes=limit_bytes)
        assert isinstance(report.verdict, Verdict)
        assert 0.0 <= report.confidence <= 1.0
        assert 0 <= report.samples <= 41
        assert 0.0 <= report.span_s <= window_s * (1 + 1e-9)
        assert math.isfinite(report.slope_bytes_per_s)
        assert math.isfinite(report.recent_slope_bytes_per_s)
        assert report.growth_mb_per_h == pytest.approx(report.slope_bytes_per_s * 3600 / MB)
        assert report.eta_s is None or (report.eta_s >= 0.0 and math.isfinite(report.eta_s))
        if report.verdict in (Verdict.STABLE, Verdict.INSUFFICIENT_DATA) or limit_bytes is None:
            assert report.eta_s is None
        if report.verdict is Verdict.LEAK_SUSPECTED:
            assert report.slope_bytes_per_s >= min_growth * MB / 3600
        assert (report.level_bytes is None) == (report.samples == 0)

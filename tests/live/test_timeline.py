from __future__ import annotations

import math

import pytest

from otelperf.aggregates import ExpSketch
from otelperf.live.timeline import Timeline


def sketch(*values: float) -> ExpSketch:
    out = ExpSketch()
    out.add_many(values)
    return out


class TestTimeline:
    def test_bins_by_time_and_reads_windows(self) -> None:
        """Values land in their bin; a read merges the bins starting in the range."""
        timeline = Timeline(bin_s=1.0)
        timeline.add("op", 10.2, sketch(0.01, 0.02), errors=1)
        timeline.add("op", 10.9, sketch(0.03), errors=0)
        timeline.add("op", 12.5, sketch(0.5), errors=0)
        assert [b.count for b in timeline.bins("op")] == [3, 0, 1]
        window = timeline.read("op", 11.0, math.inf)
        assert window.sketch.count == 1 and window.errors == 0.0
        whole = timeline.read("op", -math.inf, math.inf)
        assert whole.sketch.count == 4
        assert (whole.errors, whole.errors_estimated) == (1.0, False)

    def test_error_rate_is_estimated_from_spans_without_exact_counts(self) -> None:
        """OTLP gives no error counts: errors among exported spans estimate the rate."""
        timeline = Timeline()
        timeline.add("op", 5.0, sketch(*[0.01] * 100), errors=None)
        timeline.add_spans("op", 5.1, spans=20, errors=5)
        read = timeline.read("op", 0.0, 10.0)
        assert read.errors_estimated
        assert read.errors == pytest.approx(25.0)
        assert timeline.bins("op")[0].error_rate == pytest.approx(0.25)

    def test_coarsens_exactly_when_history_outgrows_max_bins(self) -> None:
        """Past max_bins widths, the width doubles and bins merge without losing a value."""
        timeline = Timeline(bin_s=1.0, max_bins=4)
        for t in range(10):
            timeline.add("op", float(t), sketch(0.001 * (t + 1)), errors=0)
        assert timeline.bin_s == 4.0
        bins = timeline.bins("op")
        assert len(bins) <= 4
        assert sum(b.count for b in bins) == 10
        assert timeline.read("op", -math.inf, math.inf).sketch.max == pytest.approx(0.010)

    def test_last_limits_bins_to_the_newest(self) -> None:
        """bins(last=n) returns the newest n widths, empty ones as NaN."""
        timeline = Timeline()
        timeline.add("a", 1.0, sketch(0.01), errors=0)
        timeline.add("b", 5.0, sketch(0.01), errors=0)
        bins = timeline.bins("a", last=3)
        assert [b.start_s for b in bins] == [3.0, 4.0, 5.0]
        assert all(math.isnan(b.p99_s) for b in bins)

    @pytest.mark.parametrize(("bin_s", "max_bins"), [(0.0, 4), (1.0, 1)])
    def test_rejects_bad_arguments(self, bin_s: float, max_bins: int) -> None:
        """A non-positive width or fewer than 2 bins is a ValueError."""
        with pytest.raises(ValueError):
            Timeline(bin_s=bin_s, max_bins=max_bins)

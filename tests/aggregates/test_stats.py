from __future__ import annotations

from dataclasses import FrozenInstanceError, fields

import pytest

from otelperf.aggregates import ExpSketch, OperationStats


def stats_of(values_s: list[float], *, errors: int = 0) -> OperationStats:
    sketch = ExpSketch()
    sketch.add_many(values_s)
    return OperationStats.from_sketch(
        operation="GET /users", kind="server", sketch=sketch, errors=errors, window_s=60.0
    )


class TestOperationStats:
    def test_fields_are_milliseconds_from_the_sketch(self) -> None:
        """Percentiles are the sketch's quantiles times 1000; min/max/mean are exact."""
        values = [i / 1000 for i in range(1, 1001)]  # 1 ms .. 1000 ms
        stats = stats_of(values, errors=10)
        sketch = stats.sketch
        assert stats.relative_error == sketch.relative_error < 0.0055
        assert (stats.count, stats.errors, stats.error_rate) == (1000, 10, 0.01)
        assert (stats.min_ms, stats.max_ms) == (1.0, 1000.0)
        assert stats.mean_ms == pytest.approx(500.5)
        expected = [q * 1000 for q in sketch.quantiles([0.5, 0.9, 0.95, 0.99, 0.999])]
        assert [stats.p50_ms, stats.p90_ms, stats.p95_ms, stats.p99_ms, stats.p999_ms] == expected
        assert stats.p99_ms == pytest.approx(990.01, rel=0.0055)
        assert stats.quantile(0.75) == sketch.quantile(0.75) * 1000
        assert (stats.operation, stats.kind, stats.window_s) == ("GET /users", "server", 60.0)

    @pytest.mark.parametrize(
        ("threshold_ms", "expected"), [(0.5, 4), (1.0, 3), (25.0, 2), (400.0, 0), (-1.0, 4)]
    )
    def test_count_over_takes_milliseconds(self, threshold_ms: float, expected: int) -> None:
        """count_over(ms) counts the window's samples above the threshold."""
        assert stats_of([0.001, 0.002, 0.030, 0.400]).count_over(threshold_ms) == expected

    def test_mean_stays_inside_min_max(self) -> None:
        """Equal values give mean == min == max despite float summation."""
        stats = stats_of([0.1] * 10)
        assert stats.mean_ms == stats.min_ms == stats.max_ms == 100.0

    def test_empty_sketch_has_no_stats(self) -> None:
        """from_sketch refuses an empty sketch: such operations are omitted."""
        with pytest.raises(ValueError, match="no samples for operation 'x'"):
            OperationStats.from_sketch(
                operation="x", kind="server", sketch=ExpSketch(), errors=0, window_s=1.0
            )

    def test_sketch_is_neither_compared_nor_shown(self) -> None:
        """Equality and repr ignore the sketch; the result is frozen and hashable."""
        first, second = stats_of([0.001, 0.002]), stats_of([0.001, 0.002])
        assert first == second and hash(first) == hash(second)
        assert "sketch" not in repr(first)
        with pytest.raises(FrozenInstanceError):
            first.count = 3  # type: ignore[misc]

    def test_the_window_sketch_cannot_be_changed_through_the_result(self) -> None:
        """`sketch` is a copy: adding to it changes neither quantile() nor count_over()."""
        stats = stats_of([0.001, 0.002, 0.003])
        p50, over = stats.quantile(0.5), stats.count_over(1.5)
        exposed = stats.sketch
        exposed.add_many([10.0] * 100)
        assert exposed.count == 103 and stats.sketch.count == 3
        assert (stats.quantile(0.5), stats.count_over(1.5)) == (p50, over)
        assert "sketch" not in {f.name for f in fields(stats)}
        with pytest.raises((AttributeError, TypeError)):  # frozen (slots: TypeError on 3.11)
            stats.sketch = exposed  # type: ignore[misc]

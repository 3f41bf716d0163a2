from __future__ import annotations

import math
import random
from dataclasses import replace

import pytest

from otelperf.aggregates import ExpSketch
from otelperf.budgets import parse_budgets
from otelperf.live.fleet import OTHER, FleetMerger
from tests.live.points import duration_point

T0 = 1_800_000_000.0


def ns(seconds: float) -> int:
    return round(seconds * 1e9)


class TestFleetMerger:
    def test_merges_cumulative_streams_of_several_processes(self) -> None:
        """Three processes' cumulative exports merge into the sketch of all their values."""
        rng = random.Random(7)
        merger = FleetMerger(started_s=T0)
        everything = ExpSketch()
        senders = [ExpSketch() for _ in range(3)]
        for second in range(1, 6):
            for index, sender in enumerate(senders):
                values = [rng.lognormvariate(-4 + index, 0.5) for _ in range(200)]
                sender.add_many(values)
                everything.add_many(values)
                point = duration_point(
                    "GET /a", sender, start_ns=ns(T0) + index, time_ns=ns(T0 + second)
                )
                merger.add_points([point], T0 + second)
        merged = merger.report_data(title="t", now_s=T0 + 6).operations[0].summary
        assert merged.count == everything.count == 3000
        assert merged.p99_ms == pytest.approx(everything.quantile(0.99) * 1e3, rel=1e-9)
        assert merged.p50_ms == pytest.approx(everything.quantile(0.5) * 1e3, rel=1e-9)
        assert merger.live_sources(T0 + 6) == 3
        assert merger.rows(T0 + 6)[0].count == 3000  # all within the 10 s window

    def test_window_holds_only_recent_bins(self) -> None:
        """Table rows cover the last window_s; the total covers everything."""
        merger = FleetMerger(started_s=T0, window_s=2.0)
        sender = ExpSketch()
        for second in range(1, 6):
            sender.add_many([0.01] * 100)
            merger.add_points(
                [duration_point("op", sender, start_ns=ns(T0), time_ns=ns(T0 + second))],
                T0 + second,
            )
        [row] = merger.rows(T0 + 5.5)
        assert (row.total, row.count) == (500, 200)
        assert row.rps == pytest.approx(100.0)

    def test_a_restarted_stream_is_taken_whole(self) -> None:
        """A cumulative point with fewer values than the last one starts a new count."""
        merger = FleetMerger(started_s=T0)
        big, small = ExpSketch(), ExpSketch()
        big.add_many([0.01] * 50)
        small.add_many([0.02] * 5)
        merger.add_points([duration_point("op", big, start_ns=ns(T0), time_ns=ns(T0 + 1))], T0)
        merger.add_points([duration_point("op", small, start_ns=ns(T0), time_ns=ns(T0 + 2))], T0)
        assert merger.report_data(title="t", now_s=T0 + 3).operations[0].summary.count == 55

    def test_delta_points_add_up(self) -> None:
        """Delta temporality points are added as they are."""
        merger = FleetMerger(started_s=T0)
        part = ExpSketch()
        part.add_many([0.01] * 10)
        for second in (1, 2, 3):
            point = duration_point(
                "op",
                part,
                start_ns=ns(T0 + second - 1),
                time_ns=ns(T0 + second),
                temporality="delta",
            )
            merger.add_points([point], T0 + second)
        assert merger.report_data(title="t", now_s=T0 + 4).operations[0].summary.count == 30

    def test_history_from_before_it_started_counts_but_has_no_rate(self) -> None:
        """A process running long before top started adds to totals, not to the window."""
        merger = FleetMerger(started_s=T0)
        old = ExpSketch()
        old.add_many([0.01] * 1000)
        merger.add_points(
            [duration_point("op", old, start_ns=ns(T0 - 3600), time_ns=ns(T0 + 1))], T0 + 1
        )
        [row] = merger.rows(T0 + 1.5)
        assert (row.total, row.count) == (1000, 0)

    def test_operations_past_the_cap_fold_into_other(self) -> None:
        """Distinct operations are bounded; the rest are counted under otelperf.other."""
        merger = FleetMerger(started_s=T0, max_operations=2)
        for name in ("a", "b", "c", "d"):
            sender = ExpSketch()
            sender.add_many([0.01] * 3)
            merger.add_points(
                [duration_point(name, sender, start_ns=ns(T0), time_ns=ns(T0 + 1))], T0 + 1
            )
        report = merger.report_data(title="t", now_s=T0 + 2)
        assert [op.summary.operation for op in report.operations] == ["a", "b", OTHER]
        assert report.operation(OTHER) is not None
        assert report.operation(OTHER).summary.count == 6  # type: ignore[union-attr]

    def test_ignores_points_it_cannot_use(self) -> None:
        """Other metrics are skipped; malformed duration points are counted and skipped."""
        merger = FleetMerger(started_s=T0)
        sender = ExpSketch()
        sender.add_many([0.01])
        point = duration_point("op", sender, start_ns=ns(T0), time_ns=ns(T0 + 1))
        merger.add_points(
            [replace(point, name="http.server.duration"), replace(point, count=99)], T0 + 1
        )
        assert merger.ignored_points == 1
        assert merger.rows(T0 + 1) == []

    def test_budgets_are_judged_on_the_merged_window(self) -> None:
        """Fleet budget states and alerts come from the merged data of all processes."""
        budgets = parse_budgets("op p95<50ms", origin="test")
        merger = FleetMerger(started_s=T0, budgets=budgets, alert_interval_s=0.001)
        fast, slow = ExpSketch(), ExpSketch()
        fast.add_many([0.010] * 90)
        slow.add_many([0.200] * 10)  # alone each process may pass; together p95 is 200 ms
        for index, sender in enumerate((fast, slow)):
            merger.add_points(
                [duration_point("op", sender, start_ns=ns(T0) + index, time_ns=ns(T0 + 1))], T0 + 1
            )
        alerts = merger.tick(T0 + 1.5)
        assert [row.state for row in merger.rows(T0 + 1.5)] == ["critical"]
        assert alerts and alerts[0].severity == "critical" and alerts[0].source == "fleet"
        assert "op p95" in alerts[0].title
        assert merger.report_data(title="t", now_s=T0 + 2).budgets[0].state == "critical"

    def test_spans_give_error_rates(self) -> None:
        """Errors among exported spans estimate each operation's error rate."""
        from tests.live.spans import span

        merger = FleetMerger(started_s=T0)
        sender = ExpSketch()
        sender.add_many([0.01] * 100)
        merger.add_points(
            [duration_point("op", sender, start_ns=ns(T0), time_ns=ns(T0 + 1))], T0 + 1
        )
        merger.add_spans([span("op", ns(T0 + 1), error=i < 2) for i in range(10)])
        [row] = merger.rows(T0 + 1.5)
        assert row.error_rate == pytest.approx(0.2)
        summary = merger.report_data(title="t", now_s=T0 + 2).operations[0].summary
        assert summary.errors_estimated and summary.errors == pytest.approx(20)

    def test_regressions_are_found_on_the_timeline(self) -> None:
        """A route whose requests step up 10x partway is flagged; steady or tail-only ones not."""
        merger = FleetMerger(started_s=T0)
        steady, stepping, tail = ExpSketch(), ExpSketch(), ExpSketch()
        for second in range(1, 21):
            steady.add_many([0.02] * 30)
            stepping.add_many([0.03 if second < 10 else 0.3] * 30)
            tail.add_many([0.02] * 28 + [0.02 if second < 10 else 0.6] * 2)  # only p95 moves
            merger.add_points(
                [
                    duration_point("steady", steady, start_ns=ns(T0), time_ns=ns(T0 + second)),
                    duration_point("stepping", stepping, start_ns=ns(T0), time_ns=ns(T0 + second)),
                    duration_point("tail", tail, start_ns=ns(T0), time_ns=ns(T0 + second)),
                ],
                T0 + second,
            )
        [regression] = merger.report_data(title="t", now_s=T0 + 21).regressions
        assert regression.operation == "stepping"
        assert regression.ratio == pytest.approx(10, rel=0.05)
        assert math.isfinite(regression.before_p95_ms)

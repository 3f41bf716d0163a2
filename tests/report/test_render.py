from __future__ import annotations

import csv
import io
import json
import math

import pytest

from otelperf.report import ReportData, render_report
from otelperf.report.html import PLOT_IDS
from otelperf.report.model import (
    AlertEntry,
    BudgetPoint,
    Distribution,
    MemoryPoint,
    OperationReport,
    OperationSummary,
    Regression,
    SeriesPoint,
)
from tests.cli.test_demo import PageParser

T0 = 1_800_000_000.0


def sample_report() -> ReportData:
    summary = OperationSummary(
        operation="GET /users/<id>",
        kind="server",
        count=1200,
        errors=12.0,
        error_rate=0.01,
        errors_estimated=True,
        rps=40.0,
        min_ms=1.0,
        mean_ms=5.0,
        p50_ms=4.0,
        p90_ms=8.0,
        p95_ms=10.0,
        p99_ms=20.0,
        max_ms=math.nan,
        budget_state="warning",
    )
    series = tuple(
        SeriesPoint(
            t_s=T0 + i,
            width_s=1.0,
            count=40,
            error_rate=0.0,
            p50_ms=4.0,
            p95_ms=10.0 + i,
            p99_ms=20.0 + i,
        )
        for i in range(5)
    )
    distribution = Distribution(
        lower_ms=(0.0, 1.0, 2.0), upper_ms=(0.0, 2.0, 4.0), counts=(3, 600, 597)
    )
    return ReportData(
        title="test <report>",
        generated_s=T0 + 10,
        started_s=T0,
        ended_s=T0 + 5,
        window_s=10.0,
        sources=2,
        operations=(OperationReport(summary=summary, series=series, distribution=distribution),),
        budgets=(
            BudgetPoint(
                t_s=T0, budget="GET /users/<id> p95<5ms", operation="GET /users/<id>", state="ok"
            ),
            BudgetPoint(
                t_s=T0 + 3,
                budget="GET /users/<id> p95<5ms",
                operation="GET /users/<id>",
                state="warning",
                actual=6.0,
                ratio=1.2,
            ),
        ),
        memory=(
            MemoryPoint(t_s=T0, source="a", rss_bytes=50 * 2**20),
            MemoryPoint(t_s=T0 + 4, source="a", rss_bytes=60 * 2**20),
        ),
        alerts=(
            AlertEntry(
                t_s=T0 + 3,
                source="fleet",
                kind="budget",
                severity="warning",
                title="GET /users/<id> p95 6 ms > 5 ms budget",
                operation="x",
            ),
        ),
        regressions=(
            Regression(
                operation="GET /users/<id>", before_p95_ms=10.0, after_p95_ms=30.0, ratio=3.0
            ),
        ),
        notes=("a note",),
    )


class TestRender:
    def test_json_round_trips(self) -> None:
        """The JSON form rebuilds the same report; NaN travels as null."""
        data = sample_report()
        text = render_report(data, "json")
        raw = json.loads(text)
        assert raw["schema"] == "otelperf.report.v1"
        assert raw["operations"][0]["summary"]["max_ms"] is None
        rebuilt = ReportData.from_dict(raw)
        assert rebuilt.operations[0].summary.p99_ms == 20.0
        assert math.isnan(rebuilt.operations[0].summary.max_ms)
        assert rebuilt.budgets == data.budgets and rebuilt.alerts == data.alerts
        assert rebuilt.operations[0].series == data.operations[0].series

    @pytest.mark.parametrize("raw", [{}, {"schema": "other"}, {"schema": "otelperf.report.v1"}])
    def test_from_dict_rejects_what_is_not_a_report(self, raw: dict[str, object]) -> None:
        """A foreign or truncated document is a ValueError."""
        with pytest.raises(ValueError):
            ReportData.from_dict(raw)

    def test_csv_has_one_row_per_operation(self) -> None:
        """CSV: the summary columns plus the regression flag."""
        rows = list(csv.DictReader(io.StringIO(render_report(sample_report(), "csv"))))
        assert len(rows) == 1
        assert rows[0]["operation"] == "GET /users/<id>"
        assert (rows[0]["p99_ms"], rows[0]["regressed"], rows[0]["budget_state"]) == (
            "20",
            "True",
            "warning",
        )

    def test_html_is_one_offline_page_with_every_plot(self) -> None:
        """Every plot div, the inlined plotly bundle, escaped text, no external script."""
        page_text = render_report(sample_report(), "html")
        page = PageParser()
        page.feed(page_text)
        assert set(PLOT_IDS) <= page.ids
        assert page.external_scripts == []
        assert "".join(page.script_text).count("Plotly.newPlot") == len(PLOT_IDS)
        assert "test &lt;report&gt;" in page_text and "<report>" not in page_text
        assert 'class="state-warning"' in page_text

    def test_html_without_series_says_no_data(self) -> None:
        """Plots with nothing to show become a 'no data' placeholder, not an error."""
        empty = ReportData(
            title="e", generated_s=T0, started_s=T0, ended_s=T0, window_s=1, sources=0
        )
        page = PageParser()
        page.feed(render_report(empty, "html"))
        assert set(PLOT_IDS) <= page.ids

    def test_unknown_format_is_a_value_error(self) -> None:
        """The message lists the formats."""
        with pytest.raises(ValueError, match="json, csv, html"):
            render_report(sample_report(), "pdf")

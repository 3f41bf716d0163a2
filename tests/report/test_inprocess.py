from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from opentelemetry.trace import Status, StatusCode

import otelperf
from otelperf.report import inprocess, report, start_history

pytestmark = pytest.mark.usefixtures("fresh_globals")


def end_spans(name: str, duration_ms: float, count: int, *, errors: int = 0) -> None:
    handle = otelperf._configure.current()
    assert handle is not None and handle.tracer_provider is not None
    tracer = handle.tracer_provider.get_tracer("test")
    for i in range(count):
        now_ns = time.time_ns()
        span = tracer.start_span(name, start_time=now_ns - round(duration_ms * 1e6))
        if i < errors:
            span.set_status(Status(StatusCode.ERROR))
        span.end(end_time=now_ns)


class TestInProcessReport:
    def test_before_configure_is_an_empty_report(self) -> None:
        """No configure(): a report with a note, not an exception."""
        data = json.loads(report("json"))
        assert data["operations"] == [] and "not configured" in data["notes"][0]

    def test_reports_exact_counts_errors_series_and_budget_states(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Counts and errors are exact in-process; history gives series, budgets and memory."""
        monkeypatch.setattr(inprocess, "HISTORY_INTERVAL_S", 0.2)
        otelperf.configure(
            service_name="shop",
            exporters="none",
            window_s=6,
            budgets="GET /checkout p95<50ms",
            alerts="none",
        )
        history = start_history()  # configure() started it
        assert history is not None and start_history(interval_s=9) is history  # idempotent
        end_spans("GET /checkout", 10, 300, errors=3)
        time.sleep(0.6)
        end_spans("GET /checkout", 200, 300)
        time.sleep(0.6)
        path = tmp_path / "r.json"
        data = json.loads(report("json", path))
        assert json.loads(path.read_text()) == data
        [op] = data["operations"]
        summary = op["summary"]
        assert (summary["count"], summary["errors"], summary["errors_estimated"]) == (600, 3, False)
        assert summary["min_ms"] == pytest.approx(10, rel=0.01)
        assert summary["p90_ms"] == pytest.approx(200, rel=0.01)
        assert summary["p99_ms"] == pytest.approx(200, rel=0.01)
        assert len(op["series"]) >= 3
        assert op["series"][-1]["p99_ms"] == pytest.approx(200, rel=0.01)
        states = [p["state"] for p in data["budgets"]]
        assert states[0] == "ok" and states[-1] == "critical"
        assert summary["budget_state"] == "critical"
        assert data["memory"] and data["memory"][0]["rss_bytes"] > 10 * 2**20
        assert sum(op["distribution"]["counts"]) == 600

    def test_html_and_csv(self, tmp_path: Path) -> None:
        """Both other formats render from the same data; a bad format is a ValueError."""
        otelperf.configure(service_name="shop", exporters="none", alerts="none")
        end_spans("GET /a", 5, 50)
        time.sleep(0.3)
        assert "GET /a" in report("csv")
        assert 'id="plot-distribution"' in report("html", tmp_path / "r.html")
        with pytest.raises(ValueError, match="format='xml'"):
            report("xml")

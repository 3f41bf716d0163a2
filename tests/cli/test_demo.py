"""``otelperf demo --duration 20 --no-live`` as a user runs it: output, report, forwarding."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest

from otelperf._receiver import OTLPReceiver
from otelperf.demo.load import ROUTES
from otelperf.report.html import PLOT_IDS

BIN = Path(sys.executable).parent
REGRESSING = "GET /reports/<int:report_id>"


class PageParser(HTMLParser):
    """Collect element ids, inline script sizes and external script sources."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.external_scripts: list[str] = []
        self.script_text: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if found.get("id"):
            self.ids.add(str(found["id"]))
        if tag == "script":
            self._in_script = True
            if found.get("src"):
                self.external_scripts.append(str(found["src"]))

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.script_text.append(data)


@pytest.mark.e2e
class TestDemo:
    def test_demo_runs_reports_every_route_and_flags_the_regression(self, tmp_path: Path) -> None:
        """20 s of real load: all routes measured, /reports flagged, a parseable HTML report."""
        report = tmp_path / "demo.html"
        began = time.monotonic()
        with OTLPReceiver() as collector:
            done = subprocess.run(
                [
                    str(BIN / "otelperf"),
                    "demo",
                    "--duration",
                    "20",
                    "--no-live",
                    "--report",
                    str(report),
                    "--seed",
                    "1",
                    "--export",
                    "otlp",
                    "--otlp-endpoint",
                    collector.grpc_endpoint,
                ],
                capture_output=True,
                text=True,
                timeout=60,
                cwd=tmp_path,
            )
            forwarded = {(r.signal) for r in collector.received()}
            forwarded_metrics = {p.name for p in collector.metrics()}
        elapsed_s = time.monotonic() - began
        assert done.returncode == 0, done.stdout + done.stderr
        assert elapsed_s < 60
        out = done.stdout
        for route in ROUTES:
            assert route.operation in out
        assert f"regression: {REGRESSING}" in out
        assert f"report: {report}" in out
        assert "otelperf measured" in out and "alerts:" in out

        data = json.loads(report.with_suffix(".json").read_text())
        measured = {op["summary"]["operation"]: op["summary"] for op in data["operations"]}
        for route in ROUTES:
            assert measured[route.operation]["count"] > 100, route
            assert (
                len(
                    next(
                        op
                        for op in data["operations"]
                        if op["summary"]["operation"] == route.operation
                    )["series"]
                )
                > 5
            )
        assert [r["operation"] for r in data["regressions"]] == [REGRESSING]
        assert data["regressions"][0]["ratio"] > 4
        assert measured["POST /orders"]["error_rate"] > 0.01  # 6 % of orders fail
        assert data["sources"] >= 2  # gunicorn workers (keep-alive clients may skip one)
        assert {a["operation"] for a in data["alerts"]} >= {REGRESSING}
        assert data["memory"] and data["budgets"]

        page = PageParser()
        page.feed(report.read_text())
        assert set(PLOT_IDS) <= page.ids
        assert {"summary", "regressions", "alerts"} <= page.ids
        assert page.external_scripts == []  # opens offline: plotly.js is inlined
        scripts = "".join(page.script_text)
        assert scripts.count("Plotly.newPlot") >= len(PLOT_IDS)
        assert len(scripts) > 3_000_000

        assert {"traces", "metrics"} <= forwarded  # --export otlp reached the "collector"
        assert "otelperf.operation.duration" in forwarded_metrics

"""``otelperf report``: re-render a saved JSON report."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path

from otelperf.report import render_report
from tests.report.test_render import sample_report

BIN = Path(sys.executable).parent


def otelperf(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "otelperf"), *args], capture_output=True, text=True, timeout=60
    )


class TestReportCommand:
    def test_json_to_html_and_csv(self, tmp_path: Path) -> None:
        """A saved JSON report becomes the HTML page and the CSV next to it."""
        saved = tmp_path / "run.json"
        saved.write_text(render_report(sample_report(), "json"))
        done = otelperf("report", str(saved))
        assert done.returncode == 0, done.stderr
        assert (tmp_path / "run.html").read_text().count('id="plot-') == 5
        done = otelperf("report", str(saved), "--format", "csv", "-o", "-")
        assert done.returncode == 0
        [row] = csv.DictReader(io.StringIO(done.stdout))
        assert row["operation"] == "GET /users/<id>"

    def test_unreadable_or_foreign_input_exits_1(self, tmp_path: Path) -> None:
        """A missing file or a JSON that is no report: exit 1 and say why."""
        assert otelperf("report", str(tmp_path / "missing.json")).returncode == 1
        foreign = tmp_path / "x.json"
        foreign.write_text('{"schema": "something else"}')
        done = otelperf("report", str(foreign))
        assert done.returncode == 1 and "not an otelperf report" in done.stderr

    def test_refuses_to_overwrite_its_input(self, tmp_path: Path) -> None:
        """--format json onto the same path is a usage error (exit 2)."""
        saved = tmp_path / "run.json"
        saved.write_text(render_report(sample_report(), "json"))
        assert otelperf("report", str(saved), "--format", "json").returncode == 2

    def test_every_command_has_help_with_exit_codes(self) -> None:
        """--help works for each new command and documents the exit codes."""
        for command in ("demo", "top", "report"):
            done = otelperf(command, "--help")
            assert done.returncode == 0 and "exit codes:" in done.stdout, command

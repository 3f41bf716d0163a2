"""Reports: JSON, CSV and a self-contained HTML page with plots (``otelperf.report()``)."""

from otelperf.report.model import ReportData
from otelperf.report.render import render_report

__all__ = ["ReportData", "render_report"]

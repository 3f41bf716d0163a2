"""Reports: JSON, CSV and a self-contained HTML page with plots.

``report(format=..., path=None)`` reports on this process (``otelperf.report``); ``ReportData`` is
the data of any report (also what ``otelperf demo``/``top`` write) and ``render_report`` renders
one. ``start_history()`` records the over-time part of the report from the moment it is called.
"""

from otelperf.report.inprocess import History, build_report, report, start_history
from otelperf.report.model import ReportData
from otelperf.report.render import FORMATS, render_report

__all__ = [
    "FORMATS",
    "History",
    "ReportData",
    "build_report",
    "render_report",
    "report",
    "start_history",
]

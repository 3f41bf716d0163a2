"""Render a :class:`ReportData` as JSON, CSV or HTML.

JSON is the whole report (``ReportData.to_dict``), CSV one row per operation (the summary a
spreadsheet or a CI diff wants), HTML the page with plots (:mod:`otelperf.report.html`).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, fields
from typing import Literal

from otelperf.report.model import OperationSummary, ReportData

__all__ = ["FORMATS", "Format", "render_report"]

Format = Literal["json", "csv", "html"]
FORMATS: tuple[Format, ...] = ("json", "csv", "html")


def render_report(data: ReportData, format: str = "json") -> str:
    """Return ``data`` as text in ``format`` (``json``, ``csv`` or ``html``).

    Raises:
        ValueError: ``format`` is none of those.
    """
    if format == "json":
        return json.dumps(data.to_dict(), indent=2, allow_nan=False) + "\n"
    if format == "csv":
        return _csv(data)
    if format == "html":
        from otelperf.report.html import render_html  # plotting is imported only when needed

        return render_html(data)
    raise ValueError(f"report format {format!r}: expected one of {', '.join(FORMATS)}")


def _csv(data: ReportData) -> str:
    flagged = {r.operation for r in data.regressions}
    out = io.StringIO()
    columns = [f.name for f in fields(OperationSummary)] + ["regressed"]
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for op in data.operations:
        row = asdict(op.summary)
        row = {k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()}
        writer.writerow({**row, "regressed": op.summary.operation in flagged})
    return out.getvalue()

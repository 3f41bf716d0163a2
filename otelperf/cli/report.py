"""``otelperf report``: render a saved JSON report as HTML, CSV or JSON.

``otelperf demo`` writes its report as HTML and JSON, ``otelperf top --report x.json`` and
``otelperf.report(format="json")`` write JSON; this command turns such a JSON file into the
self-contained HTML page (plots included) or the per-operation CSV.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["register", "run"]

_EPILOG = """\
examples:
  otelperf report otelperf-demo-report.json --format csv
  otelperf report saved.json --format html -o report.html

exit codes:
  0    the report was written
  1    INPUT could not be read or is not an otelperf JSON report
  2    usage error
"""


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add the ``report`` sub-command to the ``otelperf`` parser."""
    parser = subparsers.add_parser(
        "report",
        help="render a saved JSON report as HTML (with plots), CSV or JSON",
        description=(
            "Read an otelperf JSON report (from `otelperf demo`, `otelperf top --report x.json` "
            "or otelperf.report(format='json')) and write it as a self-contained HTML page with "
            "plots (latency distribution, percentiles over time, budget timeline, memory), as "
            "CSV (one row per operation) or as JSON."
        ),
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("input", type=Path, metavar="INPUT", help="an otelperf JSON report")
    parser.add_argument(
        "--format",
        choices=("html", "csv", "json"),
        default="html",
        help="output format (default html)",
    )
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        default=None,
        metavar="PATH",
        help="where to write (default: INPUT with the format's suffix; '-' for standard output)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Render ``args.input`` in ``args.format``; return the exit code."""
    from otelperf.report import ReportData, render_report

    try:
        data = ReportData.from_dict(json.loads(args.input.read_text(encoding="utf-8")))
    except (OSError, ValueError) as error:
        sys.stderr.write(f"otelperf report: {args.input}: {error}\n")
        return 1
    text = render_report(data, args.format)
    if args.output is not None and str(args.output) == "-":
        sys.stdout.write(text)
        return 0
    output = args.output or args.input.with_suffix(f".{args.format}")
    if output.resolve() == args.input.resolve():
        sys.stderr.write(f"otelperf report: refusing to overwrite the input {args.input}\n")
        return 2
    output.write_text(text, encoding="utf-8")
    sys.stdout.write(f"{output}\n")
    return 0

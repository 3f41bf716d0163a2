"""``otelperf demo``: run a real web app under load and watch otelperf measure it live.

Exit codes: 0 the demo ran and every route was measured; 1 it ran but measurements are missing
(the app's log is printed); 2 usage error, or the ``demo`` extra is not installed; 130 stopped
with Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from rich.console import Console

from otelperf._errors import ConfigError

__all__ = ["register", "run"]

_EPILOG = """\
exit codes:
  0    the demo ran and every route was measured; the report was written
  1    the demo ran but some route got no measurements (the app's log is printed)
  2    usage error, bad --budgets, or the demo extra is missing (pip install 'otelperf[demo]')
  130  interrupted (Ctrl-C)
"""


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add the ``demo`` sub-command to the ``otelperf`` parser."""
    parser = subparsers.add_parser(
        "demo",
        help="run a demo web app under load and watch otelperf measure it live",
        description=(
            "Start a small Flask app (5 routes with different latency shapes, errors, one route "
            "that regresses partway) under gunicorn with `opentelemetry-instrument --distro "
            "otelperf` and a budget preset, drive it with concurrent HTTP load from a separate "
            "process, and show the merged per-operation percentiles, budget states, alerts and "
            "memory live. Writes an HTML report (and its JSON) at the end. Needs "
            "pip install 'otelperf[demo]'."
        ),
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--duration",
        type=_positive,
        default=30.0,
        metavar="SECONDS",
        help="how long the load runs (default 30)",
    )
    parser.add_argument("--workers", type=int, default=3, help="gunicorn workers (default 3)")
    parser.add_argument(
        "--concurrency", type=int, default=8, help="concurrent load clients (default 8)"
    )
    parser.add_argument(
        "--budgets",
        default="interactive",
        help="budgets for the app, as OTELPERF_BUDGETS (default: interactive)",
    )
    parser.add_argument(
        "--leak",
        type=float,
        default=0.0,
        metavar="KIB",
        help="make GET /users keep KIB KiB per call (a slow leak; default off)",
    )
    parser.add_argument(
        "--no-live",
        dest="live",
        action="store_false",
        help="print a progress line every 5 s instead of the live view (for CI)",
    )
    parser.add_argument(
        "--export",
        choices=("otlp",),
        default=None,
        help="also forward everything to an OpenTelemetry Collector over OTLP",
    )
    parser.add_argument(
        "--otlp-endpoint",
        default=None,
        metavar="URL",
        help="Collector for --export otlp (default: OTEL_EXPORTER_OTLP_ENDPOINT, "
        "else http://localhost:4317 for grpc, :4318 for http/protobuf)",
    )
    parser.add_argument(
        "--otlp-protocol",
        choices=("grpc", "http/protobuf"),
        default=None,
        help="protocol for --export otlp (default: OTEL_EXPORTER_OTLP_PROTOCOL, else grpc)",
    )
    parser.add_argument(
        "--report",
        type=Path,
        default=Path("otelperf-demo-report.html"),
        metavar="PATH",
        help="where to write the HTML report "
        "(default ./otelperf-demo-report.html; the JSON goes next to it)",
    )
    parser.add_argument("--seed", type=int, default=None, help="seed for the load's route mix")
    parser.set_defaults(func=run)


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0, got {text!r}")
    return value


def run(args: argparse.Namespace) -> int:
    """Run the demo with the parsed arguments; return the exit code."""
    from otelperf.demo.forward import Protocol
    from otelperf.demo.processes import DemoSetupError
    from otelperf.demo.runner import DemoOptions, run_demo

    # Logs (--no-live, CI) are not a terminal: give the table room instead of rich's 80 columns.
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
    wanted = args.otlp_protocol or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    protocol: Protocol = "http/protobuf" if wanted == "http/protobuf" else "grpc"
    endpoint = None
    if args.export == "otlp":
        default = "http://localhost:4317" if protocol == "grpc" else "http://localhost:4318"
        endpoint = args.otlp_endpoint or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or default
    options = DemoOptions(
        duration_s=args.duration,
        workers=args.workers,
        concurrency=args.concurrency,
        budgets=args.budgets,
        leak_kb=args.leak,
        live=args.live and console.is_terminal,
        export_endpoint=endpoint,
        export_protocol=protocol,
        report_path=args.report,
        seed=args.seed,
    )
    try:
        return run_demo(options, console)
    except (DemoSetupError, ConfigError, ValueError) as error:
        sys.stderr.write(f"otelperf demo: {error}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("otelperf demo: interrupted\n")
        return 130

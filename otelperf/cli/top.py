"""``otelperf top``: a local OTLP receiver showing a live per-operation view of what it gets.

A development tool: point one or many processes (all the gunicorn workers of an app, several
services) at it with ``OTEL_EXPORTER_OTLP_ENDPOINT`` and watch their merged percentiles, error
rates, budget states and memory. Fleets in production use the OpenTelemetry Collector.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live

from otelperf._errors import ConfigError

__all__ = ["parse_listen", "register", "run"]

_EPILOG = """\
examples:
  otelperf top                                    # gRPC on 127.0.0.1:4317, HTTP on :4318
  OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317 \\
    opentelemetry-instrument --distro otelperf gunicorn -w 4 app:app
  otelperf top --listen 127.0.0.1:0/0 --duration 60 --no-live --report top.html

exit codes:
  0    stopped by --duration or Ctrl-C (the report, if asked for, was written)
  1    the listen ports could not be bound
  2    usage error (bad --listen, --budgets or --report)
"""


def parse_listen(text: str) -> tuple[str, int | None, int | None]:
    """Parse ``HOST:GRPC_PORT/HTTP_PORT`` into ``(host, grpc_port, http_port)``.

    A port left empty is None (that protocol is not served); 0 picks a free port.

    Raises:
        ValueError: The text is not of that form or a port is out of range.
    """
    host, colon, ports = text.rpartition(":")
    grpc_text, _, http_text = ports.partition("/")
    if not colon or not host:
        raise ValueError(
            f"--listen {text!r}: expected HOST:GRPC_PORT/HTTP_PORT, e.g. 127.0.0.1:4317/4318"
        )
    found: list[int | None] = []
    for part in (grpc_text, http_text):
        if not part:
            found.append(None)
            continue
        if not part.isdigit() or int(part) > 65535:
            raise ValueError(f"--listen {text!r}: port {part!r} is not in 0-65535")
        found.append(int(part))
    if found == [None, None]:
        raise ValueError(f"--listen {text!r}: give at least one port")
    return host.strip("[]"), found[0], found[1]


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add the ``top`` sub-command to the ``otelperf`` parser."""
    parser = subparsers.add_parser(
        "top",
        help="live per-operation view of the OTLP that local processes send to it",
        description=(
            "Receive OTLP (gRPC and HTTP) from one or many local processes, merge the "
            "otelperf.operation.duration exponential histograms they export, and show "
            "per-operation rate, error rate, p50/p95/p99, budget states, alerts and memory live. "
            "A development tool: fleets use the OpenTelemetry Collector."
        ),
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--listen",
        default="127.0.0.1:4317/4318",
        metavar="HOST:GRPC/HTTP",
        help="where to receive OTLP (default 127.0.0.1:4317/4318; 0 = any free "
        "port; leave a port empty to not serve that protocol)",
    )
    parser.add_argument(
        "--window",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="live window of the table and the budgets (default 10)",
    )
    parser.add_argument(
        "--budgets",
        default=None,
        help="budgets judged on the merged data (default: OTELPERF_BUDGETS)",
    )
    parser.add_argument(
        "--duration",
        type=float,
        default=None,
        metavar="SECONDS",
        help="stop after this long (default: run until Ctrl-C)",
    )
    parser.add_argument(
        "--no-live",
        dest="live",
        action="store_false",
        help="print a summary every 5 s instead of the live view",
    )
    parser.add_argument(
        "--report",
        type=Path,
        default=None,
        metavar="PATH",
        help="write a report at exit; .html, .json or .csv by its suffix",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Receive and show until ``--duration`` or Ctrl-C; return the exit code."""
    from otelperf._receiver import OTLPReceiver
    from otelperf.budgets import parse_budgets
    from otelperf.live.fleet import FleetMerger
    from otelperf.live.pump import ReceiverPump
    from otelperf.live.view import frame, plain_lines, render
    from otelperf.report import render_report

    try:
        host, grpc_port, http_port = parse_listen(args.listen)
        budgets_text = (
            args.budgets if args.budgets is not None else os.environ.get("OTELPERF_BUDGETS", "")
        )
        budgets = parse_budgets(budgets_text, origin="otelperf top --budgets")
        report_format = _report_format(args.report)
    except (ValueError, ConfigError) as error:
        sys.stderr.write(f"otelperf top: {error}\n")
        return 2
    receiver = OTLPReceiver(
        host=host,
        grpc_port=grpc_port or 0,
        http_port=http_port or 0,
        grpc=grpc_port is not None,
        http=http_port is not None,
        max_requests=2000,
    )
    try:
        receiver.start()
    except (OSError, RuntimeError) as error:
        sys.stderr.write(f"otelperf top: cannot listen on {args.listen}: {error}\n")
        return 1
    # Logs (--no-live, CI) are not a terminal: give the table room instead of rich's 80 columns.
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
    merger = FleetMerger(window_s=args.window, budgets=budgets, started_s=time.time())
    pump = ReceiverPump(receiver, merger).start()
    where = [f"grpc {receiver.grpc_endpoint}"] if grpc_port is not None else []
    where += [f"http {receiver.http_endpoint}"] if http_port is not None else []
    console.print(f"otelperf top: receiving OTLP on {', '.join(where)}", highlight=False)
    footer = "set OTEL_EXPORTER_OTLP_ENDPOINT to one of: " + ", ".join(where) + " · Ctrl-C quits"
    deadline = None if args.duration is None else time.monotonic() + args.duration
    live = (
        Live(console=console, refresh_per_second=4) if args.live and console.is_terminal else None
    )
    next_log = time.monotonic() + 5.0
    try:
        if live is not None:
            live.start()
        while deadline is None or time.monotonic() < deadline:
            now_s = time.time()
            show = functools.partial(frame, title="otelperf top", now_s=now_s, footer=footer)
            data = pump.read(show)
            if live is not None:
                live.update(render(data))
            elif time.monotonic() >= next_log:
                next_log += 5.0
                console.print("\n".join(plain_lines(data)), highlight=False)
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        if live is not None:
            live.stop()
        receiver.stop()
        pump.stop()
    now_s = time.time()
    console.print(render(pump.read(lambda m: frame(m, title="otelperf top", now_s=now_s))))
    if args.report is not None:
        report = pump.read(lambda m: m.report_data(title="otelperf top", now_s=now_s))
        args.report.write_text(render_report(report, report_format), encoding="utf-8")
        console.print(f"report: {args.report.resolve()}")
    return 0


def _report_format(path: Path | None) -> str:
    if path is None:
        return "html"
    suffix = path.suffix.lower().lstrip(".")
    if suffix not in ("html", "json", "csv"):
        raise ValueError(f"--report {str(path)!r}: expected a .html, .json or .csv file name")
    return suffix

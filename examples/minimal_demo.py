"""Minimal real demo: a Flask app under ``opentelemetry-instrument --distro otelperf``.

Starts a local OTLP receiver, runs ``examples/demo_app.py`` with 10 % head sampling, sends it
real HTTP requests from 8 threads for a few seconds, then prints what arrived over OTLP: how
many spans were exported (about 10 %) and the per-operation p50/p95/p99 that otelperf computed
over **all** requests, read back from the ``otelperf.operation.duration`` exponential
histograms the receiver decoded.

Run: ``make demo`` (or ``.venv/bin/python examples/minimal_demo.py --seconds 8``).
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from rich.console import Console
from rich.table import Table

from otelperf._receiver import MetricPoint, OTLPReceiver
from otelperf.aggregates import ExpBuckets

HERE = Path(__file__).parent
BIN = Path(sys.executable).parent
ROUTES = [
    ("GET", "/users/{n}", "GET /users/<int:user_id>"),
    ("GET", "/search", "GET /search"),
    ("POST", "/orders", "POST /orders"),
]


def free_port() -> int:
    """A free loopback port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def drive(base: str, seconds: float) -> int:
    """Send random requests from 8 threads for ``seconds``; return how many were sent."""
    deadline = time.monotonic() + seconds

    def worker(index: int) -> int:
        session, sent = requests.Session(), 0
        while time.monotonic() < deadline:
            method, path, _ = random.choice(ROUTES)
            session.request(method, base + path.format(n=random.randint(1, 99)), timeout=10)
            sent += 1
        return sent

    with ThreadPoolExecutor(8) as pool:
        return sum(pool.map(worker, range(8)))


def buckets(point: MetricPoint) -> ExpBuckets:
    """The received data point as ExpBuckets, to read quantiles from it."""
    return ExpBuckets(
        scale=point.scale or 0,
        offset=point.positive_offset or 0,
        counts=tuple(point.positive_bucket_counts or ()),
        zero_count=point.zero_count or 0,
        count=point.count or 0,
        sum=point.sum or 0.0,
        min=point.min,
        max=point.max,
    )


def main() -> int:
    """Run the demo; exit code 0 when percentiles arrived and the app logged no traceback."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    args = parser.parse_args()
    console = Console()
    with OTLPReceiver() as receiver:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "OTELPERF_"))}
        env.update(
            OTEL_EXPORTER_OTLP_ENDPOINT=receiver.grpc_endpoint,
            OTEL_SERVICE_NAME="demo",
            OTELPERF_SAMPLE_RATIO="0.1",
            OTEL_METRIC_EXPORT_INTERVAL="1000",
        )
        command = [
            str(BIN / "opentelemetry-instrument"),
            "--distro",
            "otelperf",
            sys.executable,
            str(HERE / "demo_app.py"),
            str(port),
        ]
        console.print(f"[bold]$ {' '.join(command[:3])} python demo_app.py {port}[/]")
        # The app's log goes to a file: an unread pipe would fill up and block the app.
        with tempfile.TemporaryFile() as log:
            app = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
            try:
                base = f"http://127.0.0.1:{port}"
                for _ in range(300):
                    try:
                        requests.get(base + "/health", timeout=1)
                        break
                    except requests.ConnectionError:
                        time.sleep(0.1)
                with console.status(f"sending requests for {args.seconds:.0f} s from 8 threads"):
                    sent = drive(base, args.seconds)
                receiver.wait_for(
                    lambda: sum((p.count or 0) for p in _latest(receiver)) >= sent, timeout_s=10
                )
            finally:
                app.terminate()
                app.wait(timeout=15)
                log.seek(0)
                stderr = log.read().decode(errors="replace")
        points = _latest(receiver)
        spans = receiver.spans()
    table = Table(title=f"otelperf percentiles over all {sent} requests (from OTLP histograms)")
    for column in ("operation", "count", "p50 ms", "p95 ms", "p99 ms", "max ms"):
        table.add_column(column, justify="left" if column == "operation" else "right")
    for point in sorted(points, key=lambda p: str(p.attributes.get("operation"))):
        b = buckets(point)
        p50, p95, p99 = (b.quantile(q) * 1000 for q in (0.5, 0.95, 0.99))
        table.add_row(
            str(point.attributes["operation"]),
            str(b.count),
            f"{p50:.1f}",
            f"{p95:.1f}",
            f"{p99:.1f}",
            f"{(b.max or 0) * 1000:.1f}",
        )
    console.print(table)
    server = [s for s in spans if s.kind == "SERVER"]
    console.print(
        f"spans exported: {len(server)} of {sent} requests "
        f"({len(server) / max(sent, 1):.1%}, head sampling 10 %); "
        "the percentiles above still count every request."
    )
    if "Traceback" in stderr:
        console.print(stderr)
        return 1
    return 0 if points else 1


def _latest(receiver: OTLPReceiver) -> list[MetricPoint]:
    latest: dict[str, MetricPoint] = {}
    for point in receiver.metrics(name="otelperf.operation.duration"):
        latest[str(point.attributes.get("operation"))] = point
    return [p for k, p in latest.items() if k != "GET /health"]


if __name__ == "__main__":
    sys.exit(main())

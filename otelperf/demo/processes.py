r"""Start and stop the demo's processes: the instrumented gunicorn app and the load generator.

The app runs exactly as a user would run theirs::

    opentelemetry-instrument --distro otelperf python -m gunicorn --workers 3 \
        --worker-class gthread --threads 8 otelperf.demo.app:app

configured only through ``OTEL_*``/``OTELPERF_*`` variables. It exports OTLP/HTTP: gRPC channels
created in the gunicorn master do not survive ``fork`` reliably, HTTP connections do.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import IO

import psutil

__all__ = [
    "DemoSetupError",
    "free_port",
    "instrument_command",
    "missing_modules",
    "start_app",
    "start_load",
    "stop",
    "wait_ready",
    "worker_rss",
]

_NEEDED = ("flask", "gunicorn", "opentelemetry.instrumentation.flask")


class DemoSetupError(RuntimeError):
    """The demo cannot start: a missing extra or tool, or an app that never became ready."""


def missing_modules() -> list[str]:
    """Modules of the ``demo`` extra that are not installed."""
    missing = []
    for name in _NEEDED:
        try:
            found = importlib.util.find_spec(name) is not None
        except ModuleNotFoundError:  # a parent package is missing
            found = False
        if not found:
            missing.append(name)
    return missing


def instrument_command() -> str:
    """Path of ``opentelemetry-instrument`` next to this Python, else on ``PATH``.

    Raises:
        DemoSetupError: It is not installed.
    """
    beside = Path(sys.executable).parent / "opentelemetry-instrument"
    if beside.exists():
        return str(beside)
    found = shutil.which("opentelemetry-instrument")
    if found is None:
        raise DemoSetupError(
            "opentelemetry-instrument not found: pip install 'otelperf[demo]' in this environment"
        )
    return found


def free_port() -> int:
    """A free loopback TCP port (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def start_app(
    *, port: int, workers: int, env: Mapping[str, str], log: IO[bytes]
) -> subprocess.Popen[bytes]:
    """Start gunicorn under ``opentelemetry-instrument --distro otelperf``; output to ``log``."""
    command = [
        instrument_command(),
        "--distro",
        "otelperf",
        sys.executable,
        "-m",
        "gunicorn",
        "--workers",
        str(workers),
        "--worker-class",
        "gthread",
        "--threads",
        "8",
        "--bind",
        f"127.0.0.1:{port}",
        "--graceful-timeout",
        "5",
        "otelperf.demo.app:app",
    ]
    return subprocess.Popen(command, env=dict(env), stdout=log, stderr=subprocess.STDOUT)


def wait_ready(app: subprocess.Popen[bytes], port: int, *, timeout_s: float = 30.0) -> None:
    """Wait until ``GET /health`` answers 200.

    Raises:
        DemoSetupError: The app exited or did not answer within ``timeout_s``.
    """
    deadline = time.monotonic() + timeout_s
    url = f"http://127.0.0.1:{port}/health"
    while time.monotonic() < deadline:
        if app.poll() is not None:
            raise DemoSetupError(f"the demo app exited with code {app.returncode} while starting")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    raise DemoSetupError(f"the demo app did not answer {url} within {timeout_s:.0f} s")


def start_load(
    *, port: int, duration_s: float, concurrency: int, seed: int | None
) -> subprocess.Popen[str]:
    """Start the load generator process; its stdout carries the final JSON tally."""
    command = [
        sys.executable,
        "-m",
        "otelperf.demo.load",
        f"http://127.0.0.1:{port}",
        "--duration",
        str(duration_s),
        "--concurrency",
        str(concurrency),
    ]
    if seed is not None:
        command += ["--seed", str(seed)]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "OTELPERF_"))}
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)


def worker_rss(app: subprocess.Popen[bytes]) -> dict[int, float]:
    """Resident memory in bytes of each process under the app (the gunicorn workers)."""
    try:
        children = psutil.Process(app.pid).children(recursive=True)
    except psutil.Error:
        return {}
    out = {}
    for child in children:
        try:
            out[child.pid] = float(child.memory_info().rss)
        except psutil.Error:
            continue  # a worker that just exited
    return out


def stop(process: subprocess.Popen[bytes] | subprocess.Popen[str], *, timeout_s: float) -> None:
    """SIGTERM (gunicorn then flushes each worker's telemetry), SIGKILL after ``timeout_s``."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)

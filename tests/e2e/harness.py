"""Start real web apps in subprocesses under ``opentelemetry-instrument`` and talk to them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

APPS = Path(__file__).parent / "apps"
BIN = Path(sys.executable).parent


def free_port() -> int:
    """A free loopback port (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@dataclass
class App:
    """A running app: its base URL and, after it stopped, its output."""

    base_url: str
    process: subprocess.Popen[str]
    output: str = ""

    def get(self, path: str) -> requests.Response:
        """GET ``path`` from the app."""
        return requests.get(self.base_url + path, timeout=10)


def telemetry_env(endpoint: str, protocol: str, **extra: str) -> dict[str, str]:
    """Environment for an instrumented app exporting quickly to ``endpoint``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "OTELPERF_"))}
    env.update(
        OTEL_EXPORTER_OTLP_ENDPOINT=endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL=protocol,
        OTEL_BSP_SCHEDULE_DELAY="100",
        OTEL_METRIC_EXPORT_INTERVAL="500",
        OTEL_EXPORTER_OTLP_TIMEOUT="5",
        OTEL_SERVICE_NAME="e2e-app",
        PYTHONUNBUFFERED="1",
        PYTHONPATH=str(APPS),
    )
    env.update(extra)
    return env


@contextmanager
def run_app(
    command: Sequence[str], port: int, env: Mapping[str, str], *, ready_path: str = "/health"
) -> Iterator[App]:
    """Run ``command`` (which serves on ``port``), wait until it answers, stop it afterwards."""
    process = subprocess.Popen(
        list(command),
        env=dict(env),
        cwd=APPS,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    app = App(f"http://127.0.0.1:{port}", process)
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"app exited early:\n{process.communicate()[0]}")
            try:
                if app.get(ready_path).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("app did not become ready within 30 s")
            time.sleep(0.1)
        yield app
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            app.output = process.communicate(timeout=15)[0]
        except subprocess.TimeoutExpired:
            process.kill()
            app.output = process.communicate()[0]


def instrument(*command: str) -> list[str]:
    """``opentelemetry-instrument --distro otelperf <command>`` from this venv."""
    return [str(BIN / "opentelemetry-instrument"), "--distro", "otelperf", *command]

"""Run the memory app under ``opentelemetry-instrument``, drive it, and catch its alerts.

Everything is real: the app is a subprocess started with ``opentelemetry-instrument --distro
otelperf``, requests are HTTP on 127.0.0.1, alerts arrive through otelperf's webhook sink at an
HTTP server started here, and metrics at the test's OTLP receiver.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psutil

APP = Path(__file__).parent / "apps" / "memory_app.py"
BIN = Path(sys.executable).parent
ROOT = Path(__file__).parents[2]


def leak_line() -> int:
    """The line of the app's leaking append (marked ``# LEAK LINE``)."""
    lines = APP.read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if line.endswith("# LEAK LINE"))


def free_port() -> int:
    """A free loopback port (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def wait_for(predicate: Callable[[], bool], *, timeout_s: float, every_s: float = 0.05) -> bool:
    """Poll ``predicate`` until it holds or ``timeout_s`` passes; return its last value."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every_s)
    return predicate()


@dataclass(frozen=True)
class Received:
    """A webhook delivery: when it arrived (monotonic s) and the alert's JSON."""

    at_s: float
    alert: dict[str, Any]


class WebhookServer:
    """An HTTP server on 127.0.0.1 that stores every JSON body POSTed to it."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        lock = threading.Lock()
        store = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with lock:
                    store.append(Received(time.monotonic(), json.loads(body)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/alerts"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> WebhookServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def alerts(self, kind: str) -> list[Received]:
        """Deliveries of alerts of ``kind``, in arrival order."""
        return [r for r in list(self.received) if r.alert["kind"] == kind]


@dataclass
class App:
    """The running app: base URL, process, log file."""

    base_url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def get_json(self, path: str) -> dict[str, Any]:
        """GET ``path`` and decode the JSON answer."""
        with urllib.request.urlopen(self.base_url + path, timeout=10) as response:
            data: dict[str, Any] = json.load(response)
        return data

    def log(self) -> str:
        """What the app printed so far."""
        return self.log_path.read_text(errors="replace")

    def set_address_space_limit(self, limit_bytes: int) -> None:
        """Give the running app a real ``RLIMIT_AS`` (prlimit), as a container limit would be."""
        psutil.Process(self.process.pid).rlimit(psutil.RLIMIT_AS, (limit_bytes, limit_bytes))

    def vms_bytes(self) -> int:
        """The app's virtual size now."""
        return int(psutil.Process(self.process.pid).memory_info().vms)


def app_env(*, otlp_endpoint: str, webhook_url: str, **settings: str) -> dict[str, str]:
    """The app's environment: OTLP to the receiver, alerts to the webhook, ``OTELPERF_*``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "OTELPERF_"))}
    env.update(
        PYTHONUNBUFFERED="1",
        OTEL_SERVICE_NAME="leaky-app",
        OTEL_EXPORTER_OTLP_ENDPOINT=otlp_endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL="grpc",
        OTEL_METRIC_EXPORT_INTERVAL="500",
        OTELPERF_ALERTS=f"webhook:{webhook_url}",
        # The venv also holds the Django and FastAPI instrumentations (for other tests); they
        # would import Django into this Flask app. A Flask deployment would not have them.
        OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="django,fastapi",
    )
    env.update({f"OTELPERF_{name.upper()}": value for name, value in settings.items()})
    return env


@contextmanager
def run_app(env: Mapping[str, str]) -> Iterator[App]:
    """Start the memory app under ``opentelemetry-instrument --distro otelperf``; stop it after."""
    port = free_port()
    command = [
        str(BIN / "opentelemetry-instrument"), "--distro", "otelperf",
        sys.executable, str(APP), str(port),
    ]  # fmt: skip
    with tempfile.NamedTemporaryFile(prefix="leak-app-", suffix=".log", delete=False) as log:
        log_path = Path(log.name)
    with log_path.open("wb") as sink:
        process = subprocess.Popen(
            command, env=dict(env), cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT
        )
    app = App(f"http://127.0.0.1:{port}", process, log_path)
    try:
        ready = wait_for(lambda: _answers(app) or process.poll() is not None, timeout_s=30)
        if not ready or process.poll() is not None:
            raise RuntimeError(f"app did not start:\n{app.log()}")
        yield app
    finally:
        _stop(process)
        log_path.unlink(missing_ok=True)


def _answers(app: App) -> bool:
    try:
        return app.get_json("/health") == {"ok": True}
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with suppress(psutil.NoSuchProcess):
                for child in psutil.Process(process.pid).children(recursive=True):
                    child.kill()
            process.kill()
            process.wait()


@dataclass
class Driver:
    """Sends GET requests at a fixed rate from a thread; records what the app says it holds.

    ``path(i)`` gives the path of the ``i``-th request. Each answer's ``held_bytes`` is recorded
    with the monotonic time of the answer, so the test knows what the app really kept alive.
    """

    app: App
    path: Callable[[int], str]
    rate_per_s: float
    held: list[tuple[float, int]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    started_s: float = 0.0

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Driver:
        self.started_s = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(15)

    def _run(self) -> None:
        i = 0
        while not self._stop.is_set():
            due = self.started_s + i / self.rate_per_s
            if self._stop.wait(max(0.0, due - time.monotonic())):
                return
            try:
                held = int(self.app.get_json(self.path(i))["held_bytes"])
            except (urllib.error.URLError, ConnectionError, TimeoutError, KeyError) as error:
                self.errors.append(repr(error))
            else:
                self.held.append((time.monotonic(), held))
            i += 1

    def rate_bytes_per_s(self, since_s: float, until_s: float) -> float:
        """Bytes the app took on per second between two monotonic times (least squares)."""
        points = [(t, b) for t, b in self.held if since_s <= t <= until_s]
        if len(points) < 2:
            raise AssertionError(f"too few answers between {since_s} and {until_s}: {points}")
        n = len(points)
        mean_t = sum(t for t, _ in points) / n
        mean_b = sum(b for _, b in points) / n
        cov = sum((t - mean_t) * (b - mean_b) for t, b in points)
        var = sum((t - mean_t) ** 2 for t, _ in points)
        return cov / var

"""Start real web apps in subprocesses under ``opentelemetry-instrument`` and talk to them."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import requests

from otelperf._receiver import MetricPoint, OTLPReceiver

APPS = Path(__file__).parent / "apps"
ROOT = Path(__file__).parents[2]
BIN = Path(sys.executable).parent
DURATION = "otelperf.operation.duration"
#: For pre-fork servers. The SDK's PeriodicExportingMetricReader keeps its export lock across
#: fork: a worker forked while the master exports metrics never exports any (see
#: test_process_faults). The master's first export comes one interval after start; 2 s puts it
#: after gunicorn forked its workers, so tests that are not about that bug do not trip on it.
PREFORK_METRICS = {"OTEL_METRIC_EXPORT_INTERVAL": "2000"}


def free_port() -> int:
    """A free loopback port (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@dataclass
class App:
    """A running app: its base URL, its process and (live, then final) output."""

    base_url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    output: str = ""
    exit_s: float | None = None  # seconds from SIGTERM to exit, set by run_app

    def get(self, path: str) -> requests.Response:
        """GET ``path`` from the app."""
        return requests.get(self.base_url + path, timeout=10)

    def log(self) -> str:
        """Everything the app printed so far (stdout and stderr)."""
        return self.log_path.read_text(errors="replace")

    def workers(self) -> list[psutil.Process]:
        """The app's child processes (gunicorn workers), oldest first."""
        children = psutil.Process(self.process.pid).children(recursive=False)
        return sorted(children, key=lambda p: p.create_time())

    def rss_mb(self) -> float:
        """Resident memory of the app and all its children, in MiB."""
        procs = [psutil.Process(self.process.pid), *self.workers()]
        total = 0
        for proc in procs:
            with suppress(psutil.NoSuchProcess):
                total += proc.memory_info().rss
        return total / 2**20


def telemetry_env(endpoint: str, protocol: str, **extra: str) -> dict[str, str]:
    """Environment for an instrumented app exporting quickly to ``endpoint``."""
    env = plain_env()
    env.update(
        OTEL_EXPORTER_OTLP_ENDPOINT=endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL=protocol,
        OTEL_BSP_SCHEDULE_DELAY="100",
        OTEL_METRIC_EXPORT_INTERVAL="500",
        OTEL_EXPORTER_OTLP_TIMEOUT="5",
        OTEL_SERVICE_NAME="e2e-app",
    )
    env.update(extra)
    return env


def plain_env(**extra: str) -> dict[str, str]:
    """Environment without any ``OTEL_*``/``OTELPERF_*`` variable (the app's own).

    ``E2E_OTELPERF_PATH`` (a directory holding an ``otelperf`` package) puts that otelperf
    before the installed one in the apps: the way to run this suite against a patched tree.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "OTELPERF_"))}
    paths = [os.environ["E2E_OTELPERF_PATH"]] if os.environ.get("E2E_OTELPERF_PATH") else []
    env.update(PYTHONUNBUFFERED="1", PYTHONPATH=os.pathsep.join([*paths, str(APPS)]))
    env.update(extra)
    return env


#: Log lines showing the app could not bind its port (Python/Flask, uvicorn, gunicorn).
PORT_TAKEN = ("address already in use", "connection in use")
#: Starts tried, each on a new free port, when another process took the port first.
START_ATTEMPTS = 3
#: How much of an app's log a failure message shows.
LOG_TAIL_CHARS = 4000


class PortTakenError(RuntimeError):
    """The app could not bind its port: something else took it after ``free_port()``."""


@contextmanager
def run_app(
    command: Sequence[str],
    port: int,
    env: Mapping[str, str],
    *,
    ready_path: str = "/health",
    stop_timeout_s: float = 15.0,
) -> Iterator[App]:
    """Run ``command`` (which serves on ``port``), wait until it answers, stop it afterwards.

    Output goes to a temporary file rather than a pipe, so an app that logs a lot never blocks
    on a full pipe. On exit the app gets SIGTERM; ``App.exit_s`` is how long it took to exit.

    ``free_port()`` releases the port before the app binds it, so another process (another
    suite's server) may take it in between. When the app's log says the address is in use, or
    what answers on the port is not the app, it is started again on a new free port, up to
    ``START_ATTEMPTS`` times: arguments (and environment values) equal to the port or ending
    in ``:<port>`` are rewritten, and ``App.base_url`` names the port really used. A failure
    message carries the tail of the app's log.
    """
    for attempt in range(1, START_ATTEMPTS + 1):
        app = _start(command, port, env)
        try:
            _wait_until_ready(app, port, ready_path)
            break
        except PortTakenError:
            _discard(app, stop_timeout_s)
            if attempt == START_ATTEMPTS:
                raise
            new_port = free_port()
            command = [_with_port(arg, port, new_port) for arg in command]
            env = {name: _with_port(value, port, new_port) for name, value in env.items()}
            port = new_port
        except BaseException:
            _discard(app, stop_timeout_s)
            raise
    try:
        yield app
    finally:
        _discard(app, stop_timeout_s)


def _start(command: Sequence[str], port: int, env: Mapping[str, str]) -> App:
    with tempfile.NamedTemporaryFile(prefix="e2e-app-", suffix=".log", delete=False) as log:
        log_path = Path(log.name)
    with log_path.open("wb") as sink:
        process = subprocess.Popen(
            list(command), env=dict(env), cwd=APPS, stdout=sink, stderr=subprocess.STDOUT
        )
    return App(f"http://127.0.0.1:{port}", process, log_path)


def _wait_until_ready(app: App, port: int, ready_path: str) -> None:
    """Return once the app answers 200 on ``ready_path`` from its own socket; else raise."""
    deadline = time.monotonic() + 30
    while True:
        log = app.log()
        if any(needle in log.lower() for needle in PORT_TAKEN):
            raise PortTakenError(f"port {port} was taken:\n{log[-LOG_TAIL_CHARS:]}")
        if app.process.poll() is not None:
            raise RuntimeError(
                f"app exited early (status {app.process.returncode}); its log ends with:\n"
                f"{log[-LOG_TAIL_CHARS:]}"
            )
        try:
            if app.get(ready_path).status_code == 200:
                if _listens(app.process.pid, port):
                    return
                raise PortTakenError(f"port {port} answers, but not from the app")
        except requests.ConnectionError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"app did not become ready within 30 s; its log ends with:\n{log[-LOG_TAIL_CHARS:]}"
            )
        time.sleep(0.1)


def _listens(pid: int, port: int) -> bool:
    """Whether ``pid`` or a descendant has TCP ``port`` open (True when that cannot be read)."""
    try:
        parent = psutil.Process(pid)
        procs = [parent, *parent.children(recursive=True)]
    except psutil.NoSuchProcess:
        return False
    unreadable = False
    for proc in procs:
        try:
            read = getattr(proc, "net_connections", None) or proc.connections
            if any(c.laddr and c.laddr.port == port for c in read(kind="tcp")):
                return True
        except psutil.NoSuchProcess:
            continue
        except psutil.AccessDenied:
            unreadable = True  # cannot tell: trust the answer rather than retry in vain
    return unreadable


def _with_port(value: str, old: int, new: int) -> str:
    """``value`` with the port rewritten when it is the port or ends in ``:<port>``."""
    if value == str(old):
        return str(new)
    if value.endswith(f":{old}"):
        return value[: -len(str(old))] + str(new)
    return value


def _discard(app: App, stop_timeout_s: float) -> None:
    """Stop the app, keep its output in ``app.output`` and remove its log file."""
    stop(app, timeout_s=stop_timeout_s)
    app.output = app.log()
    app.log_path.unlink(missing_ok=True)


def stop(app: App, *, timeout_s: float) -> None:
    """SIGTERM the app (if still running), wait up to ``timeout_s``, then SIGKILL its tree."""
    if app.process.poll() is None:
        began = time.monotonic()
        app.process.send_signal(signal.SIGTERM)
        try:
            app.process.wait(timeout=timeout_s)
            app.exit_s = time.monotonic() - began
        except subprocess.TimeoutExpired:
            kill_tree(app.process.pid)
            app.process.wait()


def kill_tree(pid: int) -> None:
    """SIGKILL ``pid`` and its descendants (a wedged app must not outlive its test)."""
    try:
        parent = psutil.Process(pid)
        procs = [*parent.children(recursive=True), parent]
    except psutil.NoSuchProcess:
        return
    for proc in procs:
        with suppress(psutil.NoSuchProcess):
            proc.kill()


def instrument(*command: str) -> list[str]:
    """``opentelemetry-instrument --distro otelperf <command>`` from this venv."""
    return [str(BIN / "opentelemetry-instrument"), "--distro", "otelperf", *command]


def gunicorn(target: str, port: int, *, workers: int, preload: bool = False) -> list[str]:
    """A gunicorn command line (sync workers) serving ``target`` on 127.0.0.1:``port``."""
    command = [str(BIN / "gunicorn"), "-w", str(workers), "-b", f"127.0.0.1:{port}"]
    # No control socket: parallel test runs would otherwise share ~/.gunicorn/gunicorn.ctl.
    command += ["--no-control-socket", "--graceful-timeout", "10"]
    if preload:
        command.append("--preload")
    return [*command, target]


def uvicorn(target: str, port: int) -> list[str]:
    """A uvicorn command line serving ``target`` on 127.0.0.1:``port``."""
    return [str(BIN / "uvicorn"), target, "--host", "127.0.0.1", "--port", str(port)]


@dataclass
class Load:
    """What the load generator saw (see ``tests/e2e/load.py``)."""

    latencies_ms: list[float]
    bodies: Counter[str]
    statuses: Counter[str]
    errors: list[str]
    elapsed_s: float
    by_path: Counter[str] = field(default_factory=Counter)

    @property
    def served(self) -> int:
        """Requests that got a complete response."""
        return len(self.latencies_ms)

    def quantile_ms(self, q: float) -> float:
        """The ``q`` quantile of the request latencies (nearest rank)."""
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    @property
    def rps(self) -> float:
        """Served requests per second."""
        return self.served / self.elapsed_s if self.elapsed_s else 0.0


def load_command(
    base_url: str, paths: Sequence[str], *, requests: int, concurrency: int, max_s: float = 30
) -> list[str]:
    """The command line of one load-generator process."""
    return [
        sys.executable, "-m", "tests.e2e.load", base_url, "--paths", ",".join(paths),
        "--requests", str(requests), "--concurrency", str(concurrency),
        "--max-seconds", str(max_s),
    ]  # fmt: skip


def start_load(
    base_url: str, paths: Sequence[str], *, requests: int, concurrency: int = 4, max_s: float = 30
) -> subprocess.Popen[str]:
    """Start a load-generator process; read it with :func:`finish_load`."""
    command = load_command(base_url, paths, requests=requests, concurrency=concurrency, max_s=max_s)
    return subprocess.Popen(command, cwd=ROOT, env=plain_env(), stdout=subprocess.PIPE, text=True)


def finish_load(process: subprocess.Popen[str], *, timeout_s: float = 60) -> Load:
    """Wait for a load-generator process and parse its result."""
    out, _ = process.communicate(timeout=timeout_s)
    raw = json.loads(out)
    by_path: Counter[str] = Counter()
    for key, n in raw["statuses"].items():
        by_path[key.rsplit(" ", 1)[0]] += n
    return Load(
        latencies_ms=raw["latencies_ms"],
        bodies=Counter(raw["bodies"]),
        statuses=Counter(raw["statuses"]),
        errors=raw["errors"],
        elapsed_s=raw["elapsed_s"],
        by_path=by_path,
    )


def load(
    base_url: str, paths: Sequence[str], *, requests: int, concurrency: int = 4, max_s: float = 30
) -> Load:
    """Run a bounded load from a separate process and return what it saw."""
    process = start_load(base_url, paths, requests=requests, concurrency=concurrency, max_s=max_s)
    return finish_load(process, timeout_s=max_s + 30)


def latest_counts(
    receiver: OTLPReceiver, *, by: str = "service.instance.id"
) -> dict[tuple[object, str], int]:
    """Latest cumulative ``otelperf.operation.duration`` count per (resource ``by``, operation)."""
    latest: dict[tuple[object, str], MetricPoint] = {}
    for point in receiver.metrics(name=DURATION):
        key = (point.resource_attributes.get(by), str(point.attributes["operation"]))
        if key not in latest or point.time_unix_ns >= latest[key].time_unix_ns:
            latest[key] = point
    return {key: point.count or 0 for key, point in latest.items()}


def totals(counts: Mapping[tuple[object, str], int]) -> Counter[str]:
    """Sum per-process counts by operation."""
    summed: Counter[str] = Counter()
    for (_, operation), n in counts.items():
        summed[operation] += n
    return summed


def otelperf_errors(output: str) -> list[str]:
    """Lines in an app's output that show an otelperf failure (or any traceback)."""
    needles = ("otelperf internal error", "otelperf disabled", "Traceback", "Exception in thread")
    return [line for line in output.splitlines() if any(n in line for n in needles)]

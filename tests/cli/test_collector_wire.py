"""otelperf's real OTLP output reaches a receiver on the ports the shipped collector config uses."""

from __future__ import annotations

import ast
import contextlib
import itertools
import os
import shlex
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import psutil
import pytest
import yaml
from opentelemetry import trace

import otelperf
from otelperf._receiver import OTLPReceiver
from otelperf._receiver.records import Transport
from otelperf.cli._collector.metric_names import EXPORTED_METRICS

CONFIG = Path(__file__).parents[2] / "collector-config" / "otelcol.yaml"
TESTS = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.usefixtures("fresh_globals")


def collector_ports() -> dict[str, int]:
    """The OTLP receiver ports of the shipped collector config, by protocol."""
    protocols = yaml.safe_load(CONFIG.read_text())["receivers"]["otlp"]["protocols"]
    return {name: int(spec["endpoint"].rsplit(":", 1)[1]) for name, spec in protocols.items()}


def listener(port: int) -> psutil.Process | None:
    """The process listening on TCP ``port`` (any address), or None if none is found."""
    for conn in psutil.net_connections(kind="tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
            with contextlib.suppress(psutil.Error, TypeError):
                return psutil.Process(conn.pid)
    return None


def explain_busy(ports: dict[str, int], error: BaseException) -> NoReturn:
    """Fail if this test run holds a collector port, otherwise skip naming the port and holder.

    Raises:
        pytest.fail.Exception: A port is held by this pytest process or one of its children:
            another test binds the collector ports, which none may do.
        pytest.skip.Exception: A port is held by a process outside this run (a local collector,
            another checkout's tests): the stand-in cannot start, which is not a failure.
    """
    ours = {os.getpid()} | {p.pid for p in psutil.Process().children(recursive=True)}
    outside = []
    for name, port in sorted(ports.items(), key=lambda item: item[1]):
        holder = listener(port)
        if holder is None:
            continue
        with contextlib.suppress(psutil.Error):
            described = f"pid {holder.pid} ({' '.join(holder.cmdline())[:120]})"
        if holder.pid in ours:
            pytest.fail(
                f"collector {name} port {port} is held by this test run, {described}: no test "
                "may bind the collector config's ports; use ephemeral ports (port 0)"
            )
        outside.append(f"{name} port {port} is in use by {described}")
    reason = "; ".join(outside) or f"binding {sorted(ports.values())} failed: {error}"
    pytest.skip(f"cannot stand in for the collector: {reason}")


@pytest.fixture
def collector_stand_in() -> Iterator[OTLPReceiver]:
    """A receiver listening where the collector would: the config's gRPC and HTTP ports."""
    ports = collector_ports()
    try:
        receiver = OTLPReceiver(grpc_port=ports["grpc"], http_port=ports["http"]).start()
    except (OSError, RuntimeError) as exc:
        explain_busy(ports, exc)
    with receiver:
        yield receiver


class TestCollectorWire:
    def test_config_uses_the_standard_otlp_ports(self) -> None:
        """The shipped config listens on the OTLP defaults the SDK exporters use unconfigured."""
        assert collector_ports() == {"grpc": 4317, "http": 4318}

    @pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
    def test_default_exporters_reach_the_collector_ports(
        self,
        monkeypatch: pytest.MonkeyPatch,
        collector_stand_in: OTLPReceiver,
        protocol: str,
    ) -> None:
        """With no endpoint set, spans and otelperf metrics arrive on the config's port."""
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", protocol)
        otelperf.configure(service_name="wire-test")
        with trace.get_tracer("t").start_as_current_span("GET /wire"):
            pass
        otelperf.shutdown()
        transport: Transport = "grpc" if protocol == "grpc" else "http"
        assert [s.name for s in collector_stand_in.spans(transport=transport)] == ["GET /wire"]
        names = {p.name for p in collector_stand_in.metrics(transport=transport)}
        assert "otelperf.operation.duration" in names
        # Every metric otelperf sent is one the dashboard/metric table knows, with its unit.
        known = {m.otel_name: m.unit for m in EXPORTED_METRICS}
        for point in collector_stand_in.metrics(transport=transport):
            assert point.name in known, point.name
            assert point.unit == known[point.name], point.name


class TestCollectorPortsStayFree:
    def test_a_port_held_by_this_run_fails_naming_it(self) -> None:
        """A listener in this process is reported as a failure with the port and pid."""
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            sock.listen()
            port = sock.getsockname()[1]
            with pytest.raises(pytest.fail.Exception) as failed:
                explain_busy({"http": port}, OSError("address in use"))
        assert f"http port {port} is held by this test run, pid {os.getpid()}" in str(failed.value)

    def test_a_port_held_by_a_child_process_fails(self) -> None:
        """A listener in a subprocess this run started counts as this run's."""
        with (
            _listening_process(detached=False) as (pid, port),
            pytest.raises(pytest.fail.Exception) as failed,
        ):
            explain_busy({"grpc": port}, RuntimeError("bind failed"))
        assert f"grpc port {port} is held by this test run, pid {pid}" in str(failed.value)

    def test_a_port_held_outside_this_run_skips_naming_it(self) -> None:
        """A listener that is not this run's (an orphaned grandchild here) makes it skip."""
        with (
            _listening_process(detached=True) as (pid, port),
            pytest.raises(pytest.skip.Exception) as skipped,
        ):
            explain_busy({"http": port}, OSError("address in use"))
        assert f"http port {port} is in use by pid {pid}" in str(skipped.value)

    def test_no_other_test_binds_the_collector_ports(self) -> None:
        """Only this file may listen on 4317/4318 in the suite (the suite runs serially).

        Looks for the two ways a test could: an ``OTLPReceiver`` given port 4317 or 4318, and
        ``otelperf top`` (which listens on 127.0.0.1:4317/4318 by default) run without
        ``--listen``.
        """
        collector = set(collector_ports().values())
        offenders = []
        for path in sorted(TESTS.rglob("*.py")):
            if path == Path(__file__).resolve():
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
            for node in ast.walk(tree):
                where = f"{path.relative_to(TESTS)}:{getattr(node, 'lineno', 0)}"
                if isinstance(node, ast.Call) and _called(node) == "OTLPReceiver":
                    for keyword in node.keywords:
                        value = keyword.value
                        if isinstance(value, ast.Constant) and value.value in collector:
                            offenders.append(f"{where}: OTLPReceiver({keyword.arg}={value.value})")
                if isinstance(node, ast.List) and _runs_top(node.elts):
                    words = {e.value for e in node.elts if isinstance(e, ast.Constant)}
                    if not {"--listen", "--help"} & words:
                        offenders.append(f"{where}: otelperf top without --listen")
        assert offenders == []


_LISTEN = (
    "import socket, sys, time\n"
    "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n"
    "print(s.getsockname()[1], flush=True); time.sleep(30)\n"
)


@contextlib.contextmanager
def _listening_process(*, detached: bool) -> Iterator[tuple[int, int]]:
    """Run a process listening on an ephemeral port; yield ``(pid, port)``; kill it after.

    ``detached`` starts it through a shell that exits at once, so the listener is orphaned and
    no longer a descendant of this process.
    """
    command = [sys.executable, "-c", _LISTEN]
    if detached:
        quoted = " ".join(shlex.quote(part) for part in command)
        command = ["sh", "-c", f"{quoted} & echo $!"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    pid = int(process.stdout.readline()) if detached else process.pid
    try:
        port = int(process.stdout.readline())
        if detached:
            process.wait(timeout=10)  # the shell is gone: the listener is an orphan now
        yield pid, port
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        process.stdout.close()
        if not detached:
            process.wait(timeout=10)


def _runs_top(argv: list[ast.expr]) -> bool:
    """Whether a list literal is an argv running ``otelperf top`` (program, then ``top``)."""
    for program, word in itertools.pairwise(argv):
        if isinstance(word, ast.Constant) and word.value == "top":
            return not isinstance(program, ast.Constant) or "otelperf" in str(program.value)
    return False


def _called(call: ast.Call) -> str:
    func = call.func
    return func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")

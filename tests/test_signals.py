"""SIGTERM on a plain Python process flushes buffered spans and still ends by the signal."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

import pytest

from otelperf._receiver import OTLPReceiver
from otelperf._signals import flush_on_sigterm

SCRIPT = textwrap.dedent(
    """
    import sys, time
    import otelperf
    from opentelemetry import trace
    otelperf.configure(service_name="sigterm-test", exporters="otlp", memory_interval_s="off")
    tracer = trace.get_tracer("t")
    for i in range(5):
        with tracer.start_as_current_span(f"job {i}"):
            pass
    print("ready", flush=True)
    time.sleep(60)
    """
)


def test_sigterm_flushes_queued_spans_and_exits_by_the_signal(
    otlp_receiver: OTLPReceiver,
) -> None:
    """Spans still queued in the BSP (5 s schedule) reach the receiver; exit status is -SIGTERM."""
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_receiver.grpc_endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        "OTEL_BSP_SCHEDULE_DELAY": "30000",  # nothing is exported before the signal
        "PATH": "/usr/bin:/bin",
    }
    process = subprocess.Popen(
        [sys.executable, "-c", SCRIPT], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "ready"
        assert otlp_receiver.spans() == []
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == -signal.SIGTERM
    finally:
        process.kill()
        process.communicate()
    assert sorted(s.name for s in otlp_receiver.spans()) == [f"job {i}" for i in range(5)]


def test_an_existing_sigterm_handler_is_left_alone() -> None:
    """When the application handles SIGTERM already, otelperf installs nothing."""

    def mine(signum: int, frame: object) -> None:
        pass

    previous = signal.signal(signal.SIGTERM, mine)
    try:
        assert not flush_on_sigterm(lambda: None)
        assert signal.getsignal(signal.SIGTERM) is mine
    finally:
        signal.signal(signal.SIGTERM, previous)


@pytest.mark.usefixtures("fresh_globals")
def test_not_installed_off_the_main_thread() -> None:
    """signal.signal() works only on the main thread: elsewhere flush_on_sigterm says no."""
    import threading

    results: list[bool] = []
    thread = threading.Thread(target=lambda: results.append(flush_on_sigterm(lambda: None)))
    thread.start()
    thread.join()
    assert results == [False]

"""Self-inflicted faults: otelperf broken from inside, the SDK disabled, logs exported."""

from __future__ import annotations

import time
from collections import Counter

import pytest

from otelperf._receiver import OTLPReceiver
from tests.e2e.harness import (
    BIN,
    PREFORK_METRICS,
    free_port,
    gunicorn,
    instrument,
    load,
    otelperf_errors,
    plain_env,
    run_app,
    telemetry_env,
)

pytestmark = pytest.mark.e2e

PATHS = ["/users", "/users/1", "/users/9"]


@pytest.fixture(scope="module")
def expected() -> Counter[str]:
    """The plain app's response bodies for the load every test here sends."""
    port = free_port()
    with run_app(gunicorn("flask_app:app", port, workers=1), port, plain_env()) as plain:
        return load(plain.base_url, PATHS, requests=150).bodies


def test_internal_errors_on_every_span_and_tick_break_no_request(
    otlp_receiver: OTLPReceiver, expected: Counter[str]
) -> None:
    """on_end and a tick hook raise on every call: bodies unchanged, errors logged once each."""
    port = free_port()
    env = telemetry_env(otlp_receiver.grpc_endpoint, "grpc", **PREFORK_METRICS)
    command = instrument(*gunicorn("broken_app:app", port, workers=1))
    with run_app(command, port, env) as app:
        seen = load(app.base_url, PATHS, requests=150)
        time.sleep(0.5)  # a few aggregator ticks, each raising
    assert seen.errors == [] and seen.bodies == expected
    lines = app.output.splitlines()
    on_end = [line for line in lines if "internal error in LatencyProcessor.on_end" in line]
    ticks = [line for line in lines if "injected tick failure" in line]
    # The rate-limited logger: one report per failure site, not one per span or per tick.
    assert len(on_end) == 1, app.output[-3000:]
    assert 1 <= len(ticks) <= 2, app.output[-3000:]
    assert len(lines) < 80, app.output[-3000:]


def test_sdk_disabled_installs_nothing_and_the_app_serves(
    otlp_receiver: OTLPReceiver, expected: Counter[str]
) -> None:
    """OTEL_SDK_DISABLED=true: same bodies, nothing exported, nothing logged by otelperf."""
    port = free_port()
    env = telemetry_env(otlp_receiver.grpc_endpoint, "grpc", OTEL_SDK_DISABLED="true")
    with run_app(instrument(*gunicorn("flask_app:app", port, workers=1)), port, env) as app:
        seen = load(app.base_url, PATHS, requests=150)
        time.sleep(1.0)  # two metric intervals: nothing may arrive
    assert seen.errors == [] and seen.bodies == expected
    assert otlp_receiver.attempts() == []
    assert otelperf_errors(app.output) == []


def test_logs_exporter_on_and_collector_down_no_logging_recursion(expected: Counter[str]) -> None:
    """Upstream distro with the OTel logs exporter on, otelperf attached and failing inside.

    otelperf's error log goes through the root logger into the OTel log pipeline, whose export
    fails (collector down) and logs again: no RecursionError, bounded output, requests fine.
    """
    dead = f"http://127.0.0.1:{free_port()}"
    port = free_port()
    env = telemetry_env(
        dead,
        "http/protobuf",
        OTEL_LOGS_EXPORTER="otlp",
        OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED="true",
        **PREFORK_METRICS,
    )
    command = [
        str(BIN / "opentelemetry-instrument"),
        "--distro",
        "distro",
        "--configurator",
        "configurator",
        *gunicorn("broken_app:app", port, workers=1),
    ]
    with run_app(command, port, env, stop_timeout_s=30) as app:
        seen = load(app.base_url, PATHS, requests=150)
        time.sleep(1.0)
    assert seen.errors == [] and seen.bodies == expected
    assert "RecursionError" not in app.output
    assert "maximum recursion depth" not in app.output
    assert len(app.output.splitlines()) < 200, app.output[-3000:]

"""Secrets: an exporter's API key never shows in the app's output, even when export fails."""

from __future__ import annotations

import time

import pytest

from otelperf._receiver import Fault, OTLPReceiver
from tests.e2e.harness import (
    PREFORK_METRICS,
    free_port,
    gunicorn,
    instrument,
    load,
    run_app,
    telemetry_env,
)

pytestmark = pytest.mark.e2e

SECRET = "sk-e2e-7f3a9c1d"


@pytest.mark.parametrize("status", [401, 403])
def test_api_key_header_is_not_logged_when_the_collector_refuses_it(
    otlp_receiver: OTLPReceiver, status: int
) -> None:
    """OTLP headers carry an API key; the collector answers 401/403: the key is not printed."""
    otlp_receiver.set_fault(Fault(http_status=status))
    port = free_port()
    env = telemetry_env(
        otlp_receiver.http_endpoint,
        "http/protobuf",
        OTEL_EXPORTER_OTLP_HEADERS=f"api-key={SECRET}",
        OTELPERF_ALERTS="log",
        **PREFORK_METRICS,
    )
    with run_app(instrument(*gunicorn("flask_app:app", port, workers=1)), port, env) as app:
        assert not load(app.base_url, ["/users"], requests=50).errors
        assert otlp_receiver.wait_for(lambda: bool(otlp_receiver.attempts()), timeout_s=5)
        time.sleep(0.5)
    # The key did travel (so the check below is not vacuous), and was refused.
    assert {a.headers.get("api-key") for a in otlp_receiver.attempts()} == {SECRET}
    assert SECRET not in app.output

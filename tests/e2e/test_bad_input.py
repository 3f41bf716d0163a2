"""Bad input: bad settings are one clear line at startup; hostile span names stay bounded."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

import pytest

from otelperf._receiver import OTLPReceiver
from tests.e2e.harness import (
    APPS,
    DURATION,
    PREFORK_METRICS,
    free_port,
    gunicorn,
    instrument,
    load,
    plain_env,
    run_app,
    telemetry_env,
)

pytestmark = pytest.mark.e2e

# Values that must be refused, each with a single "otelperf disabled: <VARIABLE>..." line.
REFUSED = [
    ("OTELPERF_SAMPLE_RATIO", "1.5"),
    ("OTELPERF_SAMPLE_RATIO", "abc"),
    ("OTELPERF_SAMPLE_RATIO", "nan"),
    ("OTELPERF_WINDOW_S", "-1"),
    ("OTELPERF_MAX_OPERATIONS", "0"),
    ("OTELPERF_MAX_OPERATIONS", "2.5"),
    ("OTEL_EXPORTER_OTLP_PROTOCOL", "carrier-pigeon"),
    # Standard exporter variables the SDK's gRPC exporters raise for in their constructors.
    ("OTEL_EXPORTER_OTLP_TIMEOUT", "never"),
    ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "soon"),
    ("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", ""),
    ("OTEL_EXPORTER_OTLP_COMPRESSION", "zip"),
    ("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "deflate"),
    ("OTEL_EXPORTER_OTLP_METRICS_COMPRESSION", "brotli"),
    ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://[::1"),
    ("OTEL_PYTHON_EXPORTER_OTLP_GRPC_RETRYABLE_ERROR_CODES", "SOMETIMES"),
]
# A small fuzz corpus of budget strings (truncations, bad numbers, bad units, junk bytes).
BUDGET_CORPUS = [
    "GET /x p99<",
    "GET /x p101<1s",
    "GET /x p99<-5ms",
    "GET /x p99<1parsec",
    "GET /x 99%<400ms over 0d",
    "GET /x p99<250ms over",
    "\x01\x02\x7f",
    "GET /x p99<1e999ms",
    "kind=nonsense p99<1s",
]
# Values whose handling is reported (accepted or refused) but not asserted either way.
OTHERS = [
    ("OTELPERF_BUDGETS", "p99 p99<1s"),  # valid: an operation named "p99"
    ("OTELPERF_ALERTS", "webhook:not a url"),
    ("OTELPERF_SLOW_MS", "fast"),
    ("OTELPERF_REGRESSION_FACTOR", "0.5"),
    ("OTELPERF_MEMORY_INTERVAL_S", "-3"),
    ("OTELPERF_EXPORTERS", "no-such-exporter"),
    ("OTEL_TRACES_SAMPLER", "bogus"),
    ("OTEL_TRACES_SAMPLER_ARG", "2"),
]


def try_settings(pairs: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """Run apps/bad_settings.py on ``pairs``; return its report."""
    done = subprocess.run(
        [sys.executable, "bad_settings.py"],
        input=json.dumps(pairs),
        env=plain_env(OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{free_port()}"),
        cwd=APPS,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    report: list[dict[str, Any]] = json.loads(done.stdout)
    return report


def test_every_bad_setting_is_one_line_naming_it_and_nothing_escapes() -> None:
    """Each bad value: no exception escapes; refused ones log one line naming the variable."""
    pairs = REFUSED + [("OTELPERF_BUDGETS", b) for b in BUDGET_CORPUS] + OTHERS
    report = try_settings(pairs)
    print(json.dumps({"bad_settings": report}))
    assert [r["escaped"] for r in report] == [None] * len(pairs)
    for row in report[: len(REFUSED) + len(BUDGET_CORPUS)]:
        assert not row["installed"], row
        assert len(row["errors"]) == 1, row
        assert str(row["errors"][0]).startswith(f"otelperf disabled: {row['variable']}"), row


@pytest.mark.parametrize(
    ("variable", "value"),
    [("OTEL_BSP_SCHEDULE_DELAY", "-1"), ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "99999999")],
)
def test_bad_batch_processor_variables_are_a_clear_config_error(variable: str, value: str) -> None:
    """A BSP value the SDK rejects: one 'otelperf disabled: VARIABLE=...' line, no traceback."""
    [row] = try_settings([(variable, value)])
    assert row["escaped"] is None and not row["installed"]
    assert row["errors"] == [row["errors"][0]], row
    assert str(row["errors"][0]).startswith(f"otelperf disabled: {variable}="), row


def test_malformed_standard_variables_leave_the_app_serving(otlp_receiver: OTLPReceiver) -> None:
    """Malformed OTEL_* values (queue, intervals, resource) never stop a request."""
    port = free_port()
    env = telemetry_env(
        otlp_receiver.grpc_endpoint,
        "grpc",
        OTEL_BSP_MAX_QUEUE_SIZE="abc",
        OTEL_BSP_EXPORT_TIMEOUT="never",
        OTEL_RESOURCE_ATTRIBUTES="garbage,=,a=b=c",
        OTEL_EXPORTER_OTLP_HEADERS="not-a-header",
        OTEL_METRIC_EXPORT_INTERVAL="soon",
    )
    with run_app(instrument(*gunicorn("flask_app:app", port, workers=1)), port, env) as app:
        seen = load(app.base_url, ["/users"], requests=100)
    assert seen.errors == [] and seen.statuses == {"/users 200": 100}, app.output[-3000:]
    # The SDK logs its own tracebacks for some of these; none may come from otelperf's code.
    assert "/otelperf/" not in app.output, app.output[-3000:]


def test_hostile_span_names_stay_bounded(otlp_receiver: OTLPReceiver) -> None:
    """10 kB names, control characters and 100k distinct names: bounded keys, memory, exports."""
    port = free_port()
    env = telemetry_env(otlp_receiver.grpc_endpoint, "grpc", **PREFORK_METRICS)
    with run_app(instrument(*gunicorn("flask_app:app", port, workers=1)), port, env) as app:
        assert app.get("/hostile/long").status_code == 200
        assert app.get("/hostile/control").status_code == 200
        rss_before = app.rss_mb()
        began = time.monotonic()
        for start in range(0, 100_000, 20_000):
            response = app.get(f"/hostile/many?start={start}&count=20000")
            assert response.json() == {"ended": 20_000}
        spent_s = time.monotonic() - began
        assert app.get("/users").status_code == 200  # still serving

        def operations() -> set[str]:
            return {str(p.attributes["operation"]) for p in otlp_receiver.metrics(name=DURATION)}

        def folded() -> int:
            points = otlp_receiver.metrics(name="otelperf.dropped")
            values = [
                p.value or 0 for p in points if p.attributes.get("reason") == "max_operations"
            ]
            return int(max(values, default=0))

        assert otlp_receiver.wait_for(lambda: folded() >= 90_000, timeout_s=20), folded()
        rss_after = app.rss_mb()
    names = operations()
    longest = max(len(name) for name in names)
    print(
        json.dumps(
            {
                "hostile": {
                    "operations_exported": len(names),
                    "folded": folded(),
                    "longest_operation_chars": longest,
                    "rss_mb": [rss_before, rss_after],
                    "seconds_for_100k_spans": spent_s,
                }
            }
        )
    )
    assert len(names) <= 2000 + 1 + 5, len(names)  # max_operations + otelperf.other + slack
    assert "otelperf.other" in names
    assert rss_after - rss_before < 150, (rss_before, rss_after)
    assert "Traceback" not in app.output

"""Exporter faults: a sick collector must not slow the app, grow its memory or lose measurements.

One Flask app under gunicorn (2 sync workers) exports OTLP to the real receiver, whose fault
knobs make it go down (connection refused: the port is closed) or stall 10 s, and over HTTP
answer 500, answer 429 with Retry-After or reset the connection mid-body, over gRPC answer
UNAVAILABLE or RESOURCE_EXHAUSTED with a RetryInfo delay. Load phases without and with each
fault are interleaved in the same run, so both see the same machine. The latency bound asserted
here is loose on purpose (2 shared cores; the honest ratio is printed and kept in
``tests/e2e/README.md``): what it catches is an export that blocks requests, which costs
seconds, not percents.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import grpc
import pytest

from otelperf._receiver import Fault, OTLPReceiver
from tests.e2e.harness import (
    PREFORK_METRICS,
    Load,
    free_port,
    gunicorn,
    instrument,
    latest_counts,
    load,
    otelperf_errors,
    run_app,
    telemetry_env,
    totals,
)

pytestmark = pytest.mark.e2e

PATHS = ["/slow", "/users"]
PHASE = 150  # requests per phase
Inject = Callable[[OTLPReceiver], None]
FAULTS: dict[str, dict[str, Inject]] = {
    "http/protobuf": {
        "collector down (closed port)": lambda r: r.stop(),
        "10 s stall": lambda r: r.set_fault(Fault(delay_s=10)),
        "500": lambda r: r.set_fault(Fault(http_status=500)),
        "429 + Retry-After 1 s": lambda r: r.set_fault(Fault(http_status=429, retry_after_s=1)),
        "reset mid-body": lambda r: r.set_fault(Fault(http_drop="request_body")),
    },
    "grpc": {
        "collector down (closed port)": lambda r: r.stop(),
        "10 s stall": lambda r: r.set_fault(Fault(delay_s=10)),
        "UNAVAILABLE": lambda r: r.set_fault(Fault(grpc_code=grpc.StatusCode.UNAVAILABLE)),
        "RESOURCE_EXHAUSTED + RetryInfo 1 s": lambda r: r.set_fault(
            Fault(grpc_code=grpc.StatusCode.RESOURCE_EXHAUSTED, retry_after_s=1)
        ),
    },
}
ENDPOINTS = {"http/protobuf": "http_endpoint", "grpc": "grpc_endpoint"}


def heal(receiver: OTLPReceiver) -> None:
    receiver.start()  # a no-op when running
    receiver.clear_fault()


@pytest.mark.parametrize("protocol", FAULTS)
def test_faults_do_not_slow_requests_grow_memory_or_lose_measurements(
    otlp_receiver: OTLPReceiver, protocol: str
) -> None:
    """p99 under each fault stays near the interleaved no-fault p99; all requests are counted."""
    port = free_port()
    endpoint = getattr(otlp_receiver, ENDPOINTS[protocol])
    env = telemetry_env(endpoint, protocol, **PREFORK_METRICS)
    command = instrument(*gunicorn("flask_app:app", port, workers=2))
    figures: dict[str, dict[str, float]] = {}
    served = 0
    with run_app(command, port, env, stop_timeout_s=30) as app:
        load(app.base_url, PATHS, requests=PHASE)  # warm-up, not measured
        served += PHASE
        rss_before = app.rss_mb()
        baselines: list[Load] = []
        for name, inject in FAULTS[protocol].items():
            baselines.append(load(app.base_url, PATHS, requests=PHASE))
            inject(otlp_receiver)
            try:
                faulted = load(app.base_url, PATHS, requests=PHASE)
                time.sleep(0.5)  # let exports fail while the fault lasts
            finally:
                heal(otlp_receiver)
            assert faulted.errors == [] and faulted.served == PHASE, faulted.errors[:3]
            served += 2 * PHASE
            baseline_p99 = baselines[-1].quantile_ms(0.99)
            figures[name] = {
                "p95_ms": faulted.quantile_ms(0.95),
                "baseline_p95_ms": baselines[-1].quantile_ms(0.95),
                "p99_ms": faulted.quantile_ms(0.99),
                "baseline_p99_ms": baseline_p99,
                "p50_ms": faulted.quantile_ms(0.5),
                "baseline_p50_ms": baselines[-1].quantile_ms(0.5),
                "max_ms": max(faulted.latencies_ms),
            }
        rss_after = app.rss_mb()

        # Recovery: every request of every phase reaches the collector once it is healthy.
        want = served // len(PATHS)

        def counted() -> tuple[int, int]:
            summed = totals(latest_counts(otlp_receiver))
            return summed["GET /slow"], summed["GET /users"]

        assert otlp_receiver.wait_for(lambda: counted() == (want, want), timeout_s=20), (
            counted(),
            want,
        )
        # Shutdown with the collector stalled is bounded (each process has a 5 s budget).
        otlp_receiver.set_fault(Fault(delay_s=10))

    summary = {"rss_mb": [rss_before, rss_after], "exit_s": app.exit_s}
    print(json.dumps({"faults": {protocol: figures}, **summary}))
    noisiest = max(b.quantile_ms(0.95) for b in baselines)
    for name, figure in figures.items():
        # A request that waited on an export (5 s timeout, 10 s stall, 1 s backoff) would take
        # >= 1 s: no request may. The relative bound is on p95 (the 8th slowest of 150), 2x
        # the noisiest interleaved baseline + 20 ms: p99 of a 150-request phase is its 2nd
        # slowest request, and one scheduler blip on 2 shared cores moved it to 69 ms in a CI
        # run where the same phase measured 15 ms twice alone. p99 is printed; the benchmark
        # benchmarks/e2e_overhead.py measures overhead properly.
        assert figure["max_ms"] < 1000, (name, figures)
        assert figure["p95_ms"] <= 2 * noisiest + 20, (name, figures)
    assert rss_after - rss_before < 40, (rss_before, rss_after)
    # Each process's shutdown is bounded by 5 s, but gunicorn's master shuts down after its
    # workers: with the collector stalled that is 2 x 5 s plus the exit itself.
    assert app.exit_s is not None and app.exit_s < 15, app.output
    assert otelperf_errors(app.output) == []


def test_spans_lost_to_a_failing_collector_are_counted_in_otelperf_dropped(
    otlp_receiver: OTLPReceiver,
) -> None:
    """After a 500 fault, otelperf.dropped reports the spans whose export failed."""
    port = free_port()
    env = telemetry_env(otlp_receiver.http_endpoint, "http/protobuf", **PREFORK_METRICS)
    command = instrument(*gunicorn("flask_app:app", port, workers=1))
    with run_app(command, port, env) as app:
        otlp_receiver.set_fault(Fault(http_status=500, signals=frozenset({"traces"})))
        load(app.base_url, ["/users"], requests=50)
        time.sleep(1.0)
        otlp_receiver.clear_fault()

        def dropped() -> dict[str, int]:
            points = otlp_receiver.metrics(name="otelperf.dropped")
            return {str(p.attributes.get("reason")): int(p.value or 0) for p in points}

        assert otlp_receiver.wait_for(
            lambda: sum(n for r, n in dropped().items() if "export" in r) >= 50, timeout_s=5
        ), dropped()

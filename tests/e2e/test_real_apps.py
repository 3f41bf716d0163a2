"""Real apps under real load: otelperf changes no response, and counts every request once.

Each app is started twice on 127.0.0.1 — plain, then under ``opentelemetry-instrument --distro
otelperf`` — and loaded by a separate process with the same requests. The response bodies must
be the same multiset, and the ``otelperf.operation.duration`` histograms the OTLP receiver gets
from every worker must add up to exactly the requests served.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from otelperf._receiver import OTLPReceiver
from tests.e2e.harness import (
    PREFORK_METRICS,
    free_port,
    gunicorn,
    instrument,
    latest_counts,
    load,
    otelperf_errors,
    plain_env,
    run_app,
    telemetry_env,
    totals,
    uvicorn,
)

pytestmark = pytest.mark.e2e

REQUESTS = 300


@dataclass(frozen=True)
class Spec:
    """One app: how to serve it, what to ask, and the operation each path is measured under."""

    command: Callable[[int], list[str]]
    operations: dict[str, str]  # path -> operation (span name)
    workers: int
    env: dict[str, str] = field(default_factory=dict)


SPECS = {
    "flask-gunicorn-4-workers": Spec(
        lambda port: gunicorn("flask_app:app", port, workers=4),
        {
            "/users": "GET /users",
            "/users/1": "GET /users/<int:user_id>",
            "/users/9": "GET /users/<int:user_id>",
            "/slow": "GET /slow",
        },
        workers=4,
        env=PREFORK_METRICS,
    ),
    "fastapi-uvicorn": Spec(
        lambda port: uvicorn("fastapi_app:app", port),
        {"/items/1": "GET /items/{item_id}", "/items/9": "GET /items/{item_id}"},
        workers=1,
    ),
    "django-gunicorn-2-workers": Spec(
        lambda port: gunicorn("django_app:application", port, workers=2),
        {
            "/books": "GET books",
            "/books/2": "GET books/<int:book_id>",
            "/books/9": "GET books/<int:book_id>",
            "/slow": "GET slow",
        },
        workers=2,
        env={"DJANGO_SETTINGS_MODULE": "django_settings", **PREFORK_METRICS},
    ),
}


@pytest.mark.parametrize("name", SPECS)
def test_same_responses_and_every_request_counted_once(
    otlp_receiver: OTLPReceiver, name: str
) -> None:
    """Bodies equal the plain app's; per-worker histograms sum to the requests; no errors."""
    spec = SPECS[name]
    paths = list(spec.operations)
    concurrency = 2 * spec.workers  # every sync worker stays busy

    port = free_port()
    with run_app(spec.command(port), port, plain_env(**spec.env)) as plain:
        expected = load(plain.base_url, paths, requests=REQUESTS, concurrency=concurrency)
    assert expected.served == REQUESTS and not expected.errors

    port = free_port()
    env = telemetry_env(otlp_receiver.grpc_endpoint, "grpc", **spec.env)
    with run_app(instrument(*spec.command(port)), port, env) as app:
        seen = load(app.base_url, paths, requests=REQUESTS, concurrency=concurrency)
        assert seen.errors == [], app.log()
        assert seen.bodies == expected.bodies  # same status and body for every request

        wanted: dict[str, int] = {}
        for path, operation in spec.operations.items():
            wanted[operation] = wanted.get(operation, 0) + seen.by_path[path]

        def counted() -> dict[str, int]:
            summed = totals(latest_counts(otlp_receiver))
            return {operation: summed[operation] for operation in wanted}

        assert otlp_receiver.wait_for(lambda: counted() == wanted, timeout_s=15), (
            counted(),
            wanted,
            latest_counts(otlp_receiver),
            app.log(),
        )
        # Every worker measured its own share, under its own service.instance.id.
        reporting = {
            instance
            for (instance, operation), n in latest_counts(otlp_receiver).items()
            if operation in wanted and n
        }
        assert len(reporting) == spec.workers, reporting

    assert otelperf_errors(app.output) == []
    # Exit time is measured against the plain app in test_process_faults; here only "graceful".
    assert app.exit_s is not None and app.exit_s < 10.0, app.output


def test_each_gunicorn_worker_reports_its_own_process_pid(otlp_receiver: OTLPReceiver) -> None:
    """Spans and duration histograms of each worker carry that worker's process.pid."""
    port = free_port()
    env = telemetry_env(otlp_receiver.grpc_endpoint, "grpc", **PREFORK_METRICS)
    with run_app(instrument(*gunicorn("flask_app:app", port, workers=4)), port, env) as app:
        seen = load(app.base_url, ["/pid"], requests=200, concurrency=8)
        # The pids that really served requests (each GET is a new connection to any worker).
        served_by = {int(app.get("/pid").json()["pid"]) for _ in range(40)}
        assert len(served_by) >= 2, served_by

        def pids(by: str) -> set[object]:
            return {key[0] for key, n in latest_counts(otlp_receiver, by=by).items() if n}

        assert otlp_receiver.wait_for(lambda: pids("process.pid") >= served_by, timeout_s=8), (
            pids("process.pid"),
            served_by,
            seen.statuses,
        )
    span_pids = {s.resource_attributes.get("process.pid") for s in otlp_receiver.spans()}
    assert span_pids >= served_by

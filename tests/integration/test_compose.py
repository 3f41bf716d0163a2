"""The docker compose stack end to end: demo app -> Collector -> Prometheus and Jaeger.

Deselected by default (``-m "not integration"``); run: ``pytest -m integration tests/integration``.
Skips unless a Docker engine answers. Starts the stack, sends the demo app's real routes
(``examples/demo_app.py``: ``GET /users/<id>``, ``GET /search``, ``POST /orders``) a bounded number
of requests, waits until Prometheus has otelperf and span-metrics series (as native histograms), the
budget-state and memory series the dashboard plots, and Jaeger knows the service, then tears
everything down.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
COMPOSE = [
    "docker",
    "compose",
    "--file",
    str(REPO / "docker-compose.yml"),
    "--project-name",
    "otelperf-it",
]
PROMETHEUS = "http://127.0.0.1:9090"
JAEGER = "http://127.0.0.1:16686"
DEMO = "http://127.0.0.1:8000"
COLLECTOR_HEALTH = "http://127.0.0.1:13133/"
SERVICE = "otelperf-demo"
WAIT_S = 180.0


def docker_answers() -> bool:
    """True when a Docker engine and the compose plugin respond."""
    if shutil.which("docker") is None:
        return False
    try:
        for command in (["docker", "info"], ["docker", "compose", "version"]):
            if subprocess.run(command, capture_output=True, timeout=20, check=False).returncode:
                return False
    except (OSError, subprocess.TimeoutExpired):
        return False
    return True


def get(url: str, timeout_s: float = 5.0, *, method: str = "GET") -> tuple[int, bytes]:
    """Request ``url`` (GET by default); connection failures count as status 0."""
    request = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as exc:
        return int(exc.code), b""
    except (urllib.error.URLError, OSError):
        return 0, b""


def prometheus_query(expr: str) -> list[dict[str, Any]]:
    """Instant query; an empty list until Prometheus answers with data."""
    status, body = get(f"{PROMETHEUS}/api/v1/query?{urllib.parse.urlencode({'query': expr})}")
    if status != 200:
        return []
    result: list[dict[str, Any]] = json.loads(body)["data"]["result"]
    return result


def send_traffic(rounds: int = 7) -> list[int]:
    """Send ``3 * rounds`` requests to the demo app's routes; return their status codes."""
    statuses = []
    for i in range(rounds):
        statuses.append(get(f"{DEMO}/users/{i}", timeout_s=2.0)[0])
        statuses.append(get(f"{DEMO}/search", timeout_s=2.0)[0])
        statuses.append(get(f"{DEMO}/orders", timeout_s=2.0, method="POST")[0])
    return statuses


def wait_for(what: str, probe: Callable[[], bool]) -> None:
    """Poll ``probe`` every 2 s (sending demo traffic in between) for at most ``WAIT_S``."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        send_traffic()  # bounded load: 21 requests per poll against the local demo app
        if probe():
            return
        time.sleep(2.0)
    pytest.fail(f"timed out waiting for {what}")


def has_series(expr: str) -> Callable[[], bool]:
    """A probe: the instant query ``expr`` returns at least one series."""
    return lambda: bool(prometheus_query(expr))


@pytest.fixture(scope="module")
def stack() -> Iterator[None]:
    """Bring the stack up for the module and always tear it down."""
    if not docker_answers():
        pytest.skip("no Docker engine answers (docker info / docker compose version failed)")
    up = subprocess.run(
        [*COMPOSE, "up", "--detach", "--build"], capture_output=True, text=True, check=False
    )
    try:
        assert up.returncode == 0, up.stderr[-4000:]
        yield
    finally:
        subprocess.run(
            [*COMPOSE, "down", "--volumes", "--remove-orphans"], capture_output=True, check=False
        )


@pytest.mark.timeout(900)
class TestComposeStack:
    def test_demo_routes_answer(self, stack: None) -> None:
        """The routes the traffic goes to exist: users and search 200, orders 201 (5 % 500)."""
        wait_for("the demo app", lambda: get(f"{DEMO}/health")[0] == 200)
        statuses = send_traffic(rounds=5)
        assert statuses[0::3] == [200] * 5 and statuses[1::3] == [200] * 5, statuses
        assert set(statuses[2::3]) <= {201, 500} and 201 in statuses[2::3], statuses

    def test_collector_is_healthy(self, stack: None) -> None:
        """The health_check extension answers once the pipelines run."""
        wait_for("collector health", lambda: get(COLLECTOR_HEALTH)[0] == 200)

    def test_prometheus_has_otelperf_percentiles(self, stack: None) -> None:
        """otelperf's exponential histogram arrives as a native histogram with quantiles."""
        expr = "histogram_quantile(0.99, sum(rate(otelperf_operation_duration_seconds[2m])))"
        wait_for("otelperf_operation_duration_seconds", lambda: bool(prometheus_query(expr)))

    def test_prometheus_has_span_metrics(self, stack: None) -> None:
        """The span metrics connector's calls counter and duration histogram are stored."""
        for expr in (
            f'traces_span_metrics_calls_total{{service_name="{SERVICE}"}}',
            "histogram_quantile(0.5, sum(rate(traces_span_metrics_duration_seconds[2m])))",
        ):
            wait_for(expr, has_series(expr))

    @pytest.mark.parametrize(
        "series",
        [
            # OTELPERF_BUDGETS in docker-compose.yml: one state per (budget, server operation).
            "otelperf_budget_state",
            # The memory sampler (every 10 s by default) and the leak detector fed by it.
            "process_memory_usage_bytes",
            "process_memory_virtual_bytes",
            "otelperf_memory_growth_rate_bytes_per_hour",
            "otelperf_leak_suspected",
        ],
    )
    def test_prometheus_has_budget_state_and_memory_series(self, stack: None, series: str) -> None:
        """The budget-state and memory panels of the dashboard have data for the demo service."""
        wait_for(series, has_series(f'{series}{{job="{SERVICE}"}}'))

    def test_jaeger_has_sampled_traces(self, stack: None) -> None:
        """Traces kept by tail sampling reach Jaeger."""

        def has_service() -> bool:
            status, body = get(f"{JAEGER}/api/services")
            return status == 200 and SERVICE in (json.loads(body).get("data") or [])

        wait_for(f"Jaeger service {SERVICE}", has_service)

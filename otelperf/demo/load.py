"""The demo's load generator: concurrent keep-alive HTTP clients, run as its own process.

``python -m otelperf.demo.load http://127.0.0.1:PORT --duration 20 --concurrency 8`` sends
requests from ``concurrency`` threads (closed loop: each sends its next request when the last one
answered) for ``duration`` seconds, picking routes by weight, and prints one JSON line at the end:
``{"sent": N, "failed": F, "by_operation": {"GET /search": {"200": n, ...}, ...}}``.
Standard library only, so the load costs the app's host nothing it would not cost anyway.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import sys
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["ROUTES", "Route", "main", "run_load"]


@dataclass(frozen=True, slots=True)
class Route:
    """A route the load hits: method, path (``{n}`` is a random id), span name, weight."""

    method: str
    path: str
    operation: str
    weight: float


ROUTES: tuple[Route, ...] = (
    Route("GET", "/users/{n}", "GET /users/<int:user_id>", 0.35),
    Route("GET", "/search", "GET /search", 0.2),
    Route("POST", "/orders", "POST /orders", 0.15),
    Route("GET", "/reports/{n}", "GET /reports/<int:report_id>", 0.15),
    Route("GET", "/recommendations", "GET /recommendations", 0.15),
)
"""What the demo app serves, as otelperf names the operations (Flask route rules)."""


def run_load(
    base_url: str, *, duration_s: float, concurrency: int, seed: int | None = None
) -> dict[str, object]:
    """Send requests for ``duration_s`` from ``concurrency`` threads; return the tally."""
    parts = urllib.parse.urlsplit(base_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    deadline = time.monotonic() + duration_s
    weights = [r.weight for r in ROUTES]
    lock = threading.Lock()  # guards tally and failed
    tally: dict[str, Counter[str]] = {r.operation: Counter() for r in ROUTES}
    failed = [0]

    def client(index: int) -> None:
        rng = random.Random(None if seed is None else seed + index)
        connection = http.client.HTTPConnection(host, port, timeout=10)
        while time.monotonic() < deadline:
            route = rng.choices(ROUTES, weights)[0]
            path = route.path.format(n=rng.randint(1, 999))
            body = b'{"item": 1}' if route.method == "POST" else None
            try:
                connection.request(
                    route.method, path, body=body, headers={"Content-Type": "application/json"}
                )
                response = connection.getresponse()
                response.read()
                status = str(response.status)
            except (OSError, http.client.HTTPException):
                connection.close()  # reconnect on the next request
                with lock:
                    failed[0] += 1
                time.sleep(0.05)
                continue
            with lock:
                tally[route.operation][status] += 1
        connection.close()

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(duration_s + 15)
    sent = sum(sum(c.values()) for c in tally.values())
    return {
        "sent": sent,
        "failed": failed[0],
        "by_operation": {op: dict(counts) for op, counts in tally.items()},
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry: run the load and print the JSON tally; exit 1 if nothing got through."""
    parser = argparse.ArgumentParser(prog="python -m otelperf.demo.load", description=__doc__)
    parser.add_argument("url", help="base URL of the demo app, e.g. http://127.0.0.1:8000")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds (default 20)")
    parser.add_argument("--concurrency", type=int, default=8, help="client threads (default 8)")
    parser.add_argument("--seed", type=int, default=None, help="random seed for the route mix")
    args = parser.parse_args(argv)
    result = run_load(
        args.url, duration_s=args.duration, concurrency=args.concurrency, seed=args.seed
    )
    sys.stdout.write(json.dumps(result) + "\n")
    return 0 if result["sent"] else 1


if __name__ == "__main__":
    sys.exit(main())

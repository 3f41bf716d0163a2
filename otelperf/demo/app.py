"""The demo web app: routes with different latency shapes, errors, a regression and a leak.

Served by gunicorn (``otelperf.demo.app:app``). Latencies are simulated with ``time.sleep`` so the
shapes are known and cost no CPU:

- ``GET /users/<id>``: fast, lognormal around 4 ms. With ``DEMO_LEAK_KB`` set, each call keeps
  that many KiB forever (a slow leak for the memory trend).
- ``GET /search``: bimodal, 85 % around 20 ms and 15 % around 120 ms.
- ``POST /orders``: around 12 ms; 6 % fail with HTTP 500.
- ``GET /reports/<id>``: around 30 ms until the file named by ``DEMO_REGRESS_FLAG`` exists, then
  around 330 ms (a deploy that lost an index).
- ``GET /recommendations``: heavy tail, 97.5 % around 15 ms and 2.5 % around 600 ms.
- ``GET /health``: readiness probe.
"""

from __future__ import annotations

import os
import random
import time

from flask import Flask, jsonify
from flask.typing import ResponseReturnValue

__all__ = ["app"]

app = Flask("otelperf-demo")

_LEAK_BYTES = int(float(os.environ.get("DEMO_LEAK_KB", "0") or 0) * 1024)
_REGRESS_FLAG = os.environ.get("DEMO_REGRESS_FLAG", "")
_LEAKED: list[bytes] = []  # grows forever when DEMO_LEAK_KB is set: that is the point
_LEAK_CAP = 512  # MiB: the demo's leak stops here so a forgotten demo cannot exhaust memory


def _pause(mu: float, sigma: float) -> None:
    time.sleep(random.lognormvariate(mu, sigma))


@app.get("/health")
def health() -> str:
    """Readiness probe."""
    return "ok"


@app.get("/users/<int:user_id>")
def user(user_id: int) -> ResponseReturnValue:
    """Fast: lognormal around 4 ms; leaks ``DEMO_LEAK_KB`` per call when set."""
    _pause(-5.5, 0.35)
    if _LEAK_BYTES and len(_LEAKED) * _LEAK_BYTES < _LEAK_CAP * 2**20:
        _LEAKED.append(os.urandom(_LEAK_BYTES))
    return jsonify(id=user_id, name=f"user {user_id}")


@app.get("/search")
def search() -> ResponseReturnValue:
    """Bimodal: 85 % around 20 ms, 15 % around 120 ms."""
    _pause(-3.9 if random.random() < 0.85 else -2.1, 0.25)
    return jsonify(results=[])


@app.post("/orders")
def order() -> ResponseReturnValue:
    """Around 12 ms; 6 % of orders fail with HTTP 500."""
    _pause(-4.4, 0.3)
    if random.random() < 0.06:
        return jsonify(error="payment declined"), 500
    return jsonify(status="created"), 201


@app.get("/reports/<int:report_id>")
def report(report_id: int) -> ResponseReturnValue:
    """Around 30 ms; around 330 ms once the regression flag file exists."""
    regressed = bool(_REGRESS_FLAG) and os.path.exists(_REGRESS_FLAG)
    _pause(-1.1 if regressed else -3.5, 0.2)
    return jsonify(id=report_id, rows=100)


@app.get("/recommendations")
def recommendations() -> ResponseReturnValue:
    """Heavy tail: 97.5 % around 15 ms, 2.5 % around 600 ms (p99 sees the tail, p95 not)."""
    _pause(-4.2 if random.random() < 0.975 else -0.5, 0.3)
    return jsonify(items=[])

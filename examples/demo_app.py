"""A small Flask app with routes of different latency shapes, for the minimal demo."""

from __future__ import annotations

import random
import sys
import time

from flask import Flask, jsonify
from flask.typing import ResponseReturnValue

app = Flask(__name__)


@app.get("/users/<int:user_id>")
def user(user_id: int) -> ResponseReturnValue:
    """Fast: lognormal around 3 ms."""
    time.sleep(random.lognormvariate(-5.8, 0.4))
    return jsonify(id=user_id)


@app.get("/search")
def search() -> ResponseReturnValue:
    """Slow with a long tail: 90 % around 20 ms, 10 % around 120 ms."""
    time.sleep(random.lognormvariate(-3.9 if random.random() < 0.9 else -2.1, 0.3))
    return jsonify(results=[])


@app.post("/orders")
def order() -> ResponseReturnValue:
    """Around 8 ms, 5 % of requests fail."""
    time.sleep(random.lognormvariate(-4.8, 0.3))
    if random.random() < 0.05:
        return jsonify(error="payment declined"), 500
    return jsonify(status="created"), 201


@app.get("/health")
def health() -> str:
    """Readiness probe."""
    return "ok"


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(sys.argv[1]), threaded=True)

"""A small Flask app for end-to-end tests, run under opentelemetry-instrument.

Besides plain JSON routes it has ``/slow`` (a steady 5 ms request, for latency comparisons),
``/pid`` (which process served the request) and ``/hostile/<kind>`` (spans with hostile names,
made with the global tracer the way application code makes them).
"""

from __future__ import annotations

import os
import sys
import time

from flask import Flask, jsonify, request
from flask.typing import ResponseReturnValue
from opentelemetry import trace

app = Flask(__name__)
USERS = {1: "ada", 2: "grace"}
# Control characters, a NUL, a lone surrogate-free emoji and bidi overrides: all legal in a str.
CONTROL = "ctl\x00\x01\x07\x1b[31m\n\r\t\u202e\u2028\U0001f600"


@app.get("/users")
def users() -> ResponseReturnValue:
    """List users."""
    return jsonify(sorted(USERS.values()))


@app.get("/users/<int:user_id>")
def user(user_id: int) -> ResponseReturnValue:
    """One user, 404 when unknown."""
    if user_id not in USERS:
        return jsonify(error="not found"), 404
    return jsonify(id=user_id, name=USERS[user_id])


@app.get("/slow")
def slow() -> ResponseReturnValue:
    """A request that takes a steady 5 ms (sleeping, so it costs no CPU)."""
    time.sleep(0.005)
    return jsonify(slept_ms=5)


@app.get("/pid")
def pid() -> ResponseReturnValue:
    """The pid of the worker that served this request."""
    return jsonify(pid=os.getpid())


@app.get("/hostile/<kind>")
def hostile(kind: str) -> ResponseReturnValue:
    """End spans with hostile names: ``long`` (10 kB), ``control`` characters, ``many`` names.

    ``many`` takes ``start`` and ``count`` query parameters: names ``name-<start>`` onwards.
    """
    tracer = trace.get_tracer("e2e.hostile")
    if kind == "long":
        names = ["L" * 10_240]
    elif kind == "control":
        names = [CONTROL]
    else:
        start, count = int(request.args["start"]), int(request.args["count"])
        names = [f"name-{i}" for i in range(start, start + count)]
    for name in names:
        with tracer.start_as_current_span(name):
            pass
    return jsonify(ended=len(names))


@app.get("/health")
def health() -> str:
    """Readiness probe."""
    return "ok"


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(sys.argv[1]), threaded=True)

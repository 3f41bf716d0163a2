"""A small Flask app for end-to-end tests, run under opentelemetry-instrument."""

from __future__ import annotations

import sys

from flask import Flask, jsonify
from flask.typing import ResponseReturnValue

app = Flask(__name__)
USERS = {1: "ada", 2: "grace"}


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


@app.get("/health")
def health() -> str:
    """Readiness probe."""
    return "ok"


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(sys.argv[1]), threaded=True)

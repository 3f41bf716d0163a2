"""A Flask app whose memory grows the way real apps' memory grows, for leak-detection tests.

Run as ``python memory_app.py PORT`` (under ``opentelemetry-instrument --distro otelperf``).

- ``/leak``: keeps ``LEAK_BYTES`` more bytes alive on every request, in a global list (a leak).
- ``/cache/<key>``: an LRU cache of ``CACHE_SIZE`` entries of ``CACHE_ENTRY_BYTES`` each; distinct
  keys fill it, then every new key evicts the oldest one (memory grows, then plateaus).
- ``/stats``: how many bytes the app is holding on purpose.

Requests are served one at a time by one thread, as a gunicorn sync worker does. With werkzeug's
thread per request, glibc hands new threads other malloc arenas and memory freed in one arena is
not reused by another, so RSS keeps climbing in steps for a while after the cache is full: a real
effect (``MALLOC_ARENA_MAX`` tames it), but not the one these tests are about.
"""

from __future__ import annotations

import functools
import logging
import sys

from flask import Flask, jsonify
from flask.typing import ResponseReturnValue

LEAK_BYTES = 64 * 1024
CACHE_ENTRY_BYTES = 256 * 1024
CACHE_SIZE = 80  # 20 MiB when full: 2.5 s of requests at 32/s

app = Flask(__name__)
LEAKED: list[bytes] = []


@app.get("/health")
def health() -> ResponseReturnValue:
    """Ready."""
    return jsonify(ok=True)


@app.get("/leak")
def leak() -> ResponseReturnValue:
    """Keep LEAK_BYTES more alive, forever."""
    LEAKED.append(b"x" * LEAK_BYTES)  # LEAK LINE
    return jsonify(held_bytes=len(LEAKED) * LEAK_BYTES)


@functools.lru_cache(maxsize=CACHE_SIZE)
def render(key: int) -> bytes:
    """An expensive page, cached."""
    return key.to_bytes(8, "big") * (CACHE_ENTRY_BYTES // 8)


@app.get("/cache/<int:key>")
def cache(key: int) -> ResponseReturnValue:
    """Serve a cached page; held bytes stop growing once the cache is full."""
    render(key)
    return jsonify(held_bytes=render.cache_info().currsize * CACHE_ENTRY_BYTES)


@app.get("/stats")
def stats() -> ResponseReturnValue:
    """Bytes held on purpose (leak + cache)."""
    held = len(LEAKED) * LEAK_BYTES + render.cache_info().currsize * CACHE_ENTRY_BYTES
    return jsonify(held_bytes=held)


if __name__ == "__main__":
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    app.run(host="127.0.0.1", port=int(sys.argv[1]), threaded=False)

"""The Flask app plus a counter with 30 000 series, made at import (in the master with --preload).

Each metric collection in the master then reads 30 000 series under the SDK's storage locks for
a noticeable time: a worker forked meanwhile inherits those locks held. Used by
``tests/e2e/repro_fork_hang.py``.
"""

from __future__ import annotations

from flask_app import app  # type: ignore[import-not-found]  # PYTHONPATH=apps
from opentelemetry import metrics

__all__ = ["app"]

_counter = metrics.get_meter("e2e.heavy").create_counter("e2e.heavy")
for _i in range(30_000):
    _counter.add(1, {"series": _i})

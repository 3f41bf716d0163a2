"""The Flask app with otelperf broken from inside, to prove a broken otelperf hurts no request.

At import (in each gunicorn worker) it makes otelperf's own code fail on every span and every
aggregator tick: ``LatencyProcessor.on_end`` compares the span's duration with a slow threshold
that is no longer a number, and a tick hook raises. Requests must still succeed, and the
failures must be logged a bounded number of times.
"""

from __future__ import annotations

from flask_app import app  # type: ignore[import-not-found]  # PYTHONPATH=apps

from otelperf import _configure
from otelperf.aggregates import KeyedWindows

__all__ = ["app"]


def _boom(now_ns: int, store: KeyedWindows) -> None:
    raise RuntimeError("injected tick failure")


_handle = _configure.current()
if _handle is not None and _handle.aggregator is not None:
    _handle.aggregator.slow_ns = "not a number"  # type: ignore[assignment]
    _handle.aggregator.add_tick_hook(_boom)

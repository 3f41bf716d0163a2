"""Error containment for code that runs inside the host application.

Everything otelperf does after ``configure()`` returns runs on the application's threads or on
our own daemon threads, and must never raise into the application (DESIGN §9). This module holds
the three tools for that:

* :func:`never_raise` — a decorator for span-processor hooks, exporter calls, at-fork hooks and
  worker loops: exceptions are logged (rate-limited) and swallowed.
* :data:`logger` — the ``otelperf`` logger, with a filter that drops repeats of the same message
  within a minute so a broken exporter cannot flood the application's logs.
* :func:`suppressed` — a context manager under which OpenTelemetry instrumentations do not trace,
  so our own export traffic (HTTP calls to a vendor, a webhook) never produces spans.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

from opentelemetry.instrumentation.utils import suppress_instrumentation

__all__ = ["RateLimitFilter", "logger", "never_raise", "raise_internal_errors", "suppressed"]

P = ParamSpec("P")
R = TypeVar("R")

# Tests set this (tests/conftest.py) so that bugs in our hooks fail the test instead of being
# logged and swallowed, as logfire's handle_internal_errors does.
_RAISE_ENV = "OTELPERF_RAISE_INTERNAL_ERRORS"


def raise_internal_errors() -> bool:
    """Return True when internal errors must propagate (only under otelperf's own test suite)."""
    return os.environ.get(_RAISE_ENV, "") == "1"


class RateLimitFilter(logging.Filter):
    """Let the same log record through at most once per ``interval_s`` seconds.

    Keyed on logger name, message template and arguments: a repeat of the same failure is
    dropped, while a different failure (another function, another sink) is never hidden by it.
    Memory is bounded: at most ``max_keys`` records are remembered.
    """

    def __init__(self, *, interval_s: float = 60.0, max_keys: int = 1024) -> None:
        """Create the filter.

        Args:
            interval_s: Minimum seconds between two records with the same template.
            max_keys: Cap on remembered templates; when full the oldest half is forgotten.
        """
        super().__init__()
        self._interval_ns = int(interval_s * 1e9)
        self._max_keys = max_keys
        self._lock = threading.Lock()  # guards self._last_ns
        self._last_ns: dict[tuple[str, object, str], int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        """Return False for a repeat of a message seen less than ``interval_s`` ago."""
        key = (record.name, record.msg, repr(record.args)[:200])
        now_ns = time.monotonic_ns()
        with self._lock:
            last_ns = self._last_ns.get(key)
            if last_ns is not None and now_ns - last_ns < self._interval_ns:
                return False
            if len(self._last_ns) >= self._max_keys:
                for old in list(self._last_ns)[: self._max_keys // 2]:
                    del self._last_ns[old]
            self._last_ns[key] = now_ns
        return True

    def _at_fork_reinit(self) -> None:
        self._lock = threading.Lock()


logger = logging.getLogger("otelperf")
_rate_limit = RateLimitFilter()
logger.addFilter(_rate_limit)
os.register_at_fork(after_in_child=_rate_limit._at_fork_reinit)


def never_raise(fn: Callable[P, R]) -> Callable[P, R | None]:
    """Wrap ``fn`` so an exception is logged and swallowed instead of reaching the caller.

    Use it on every hook the SDK or our threads call: ``on_start``, ``on_end``, ``export``,
    ``shutdown``, at-fork hooks and worker-loop bodies. The wrapped function returns None when it
    failed. Under otelperf's test suite (``OTELPERF_RAISE_INTERNAL_ERRORS=1``) it re-raises.
    """

    @functools.wraps(fn)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> R | None:
        try:
            return fn(*args, **kwargs)
        except Exception:
            if raise_internal_errors():
                raise
            logger.exception(
                "otelperf internal error in %s; telemetry dropped, app unaffected",
                fn.__qualname__,
            )
            return None

    return guarded


@contextmanager
def suppressed() -> Iterator[None]:
    """Run the block with OpenTelemetry instrumentation suppressed (no spans from our own I/O)."""
    with suppress_instrumentation():
        yield

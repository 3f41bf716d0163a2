"""After-fork re-initialisation of otelperf's stateful objects.

gunicorn pre-forks its workers after the master imported (and, with ``--preload``, configured)
the application. A child inherits locks that may be held by threads that no longer exist, and
buffers that belong to the parent. Every object that owns a lock, thread, socket or per-process
aggregate registers a bound method here; in the child it runs, in registration order, to create
new locks and threads and to clear inherited data (the parent exports its own data).

Registration keeps only a weak reference, so a processor that has been garbage collected is never
revived by a fork (the bug fixed upstream in opentelemetry-python #5453).
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable

from otelperf._safety import never_raise

__all__ = ["register"]

_lock = threading.Lock()  # guards _callbacks (registration from any thread)
_callbacks: list[weakref.WeakMethod[Callable[[], None]]] = []
_hooked = False


def register(reinit: Callable[[], None]) -> None:
    """Call the bound method ``reinit`` in every child process right after ``os.fork()``.

    Args:
        reinit: A bound method (``self._reinit``). Only a weak reference is kept.

    Raises:
        TypeError: ``reinit`` is not a bound method (a weak reference to it would die at once).
    """
    if not hasattr(reinit, "__self__"):
        raise TypeError(f"_fork.register() needs a bound method, got {reinit!r}")
    global _hooked
    with _lock:
        _callbacks.append(weakref.WeakMethod(reinit))
        if not _hooked and hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=_after_in_child)
            _hooked = True


def _after_in_child() -> None:
    global _lock
    # The parent may have been registering at the moment of the fork: never wait on its lock.
    _lock = threading.Lock()
    alive: list[weakref.WeakMethod[Callable[[], None]]] = []
    for ref in _callbacks:
        method = ref()
        if method is None:
            continue
        alive.append(ref)
        _run(method)
    _callbacks[:] = alive


@never_raise
def _run(method: Callable[[], None]) -> None:
    method()

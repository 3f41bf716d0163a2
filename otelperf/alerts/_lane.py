"""A bounded FIFO drained by one daemon thread: the building block of the alert dispatcher."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from otelperf.alerts.alert import Alert

__all__ = ["Lane"]


class Lane:
    """Hand alerts, one at a time and in order, to ``handle`` on a thread of its own.

    ``put`` never blocks: when ``max_size`` alerts are waiting it refuses the new one and the
    caller counts the drop. ``handle`` must not raise (the dispatcher's handlers catch what sinks
    raise); if it does anyway, the counters stay right and the thread dies with the exception so
    the bug is seen. After ``stop()`` the thread handles what is still queued, calls ``on_exit``
    and ends.

    A lane is never re-used after ``os.fork()``: the dispatcher builds new ones in the child.
    """

    def __init__(
        self,
        *,
        thread_name: str,
        handle: Callable[[Alert], None],
        max_size: int,
        on_exit: Callable[[], None] | None = None,
        start: bool = True,
    ) -> None:
        """Create the lane and, unless ``start`` is False, start its thread.

        A lane created with ``start=False`` is born stopped: it accepts nothing. The dispatcher
        uses it in a child forked from a parent that had already shut down.
        """
        self._handle = handle
        self._on_exit = on_exit
        self._max_size = max_size
        self._lock = threading.Lock()  # guards _items, _stopping, _accepted and _finished
        # flush() waits here until _finished catches up with _accepted; shares _lock.
        self._progress = threading.Condition(self._lock)
        # Set when an alert arrives or stop() is called; the worker clears it (under _lock)
        # only after seeing an empty queue, so a put() between the check and wait() is not lost.
        self._wake = threading.Event()
        self._items: deque[Alert] = deque()
        self._stopping = not start
        self._accepted = 0
        self._finished = 0
        self._thread = threading.Thread(target=self._run, name=thread_name, daemon=True)
        if start:
            self._thread.start()

    @property
    def stopping(self) -> bool:
        """True once ``stop()`` was called (or the lane was created stopped)."""
        return self._stopping

    def put(self, alert: Alert) -> bool:
        """Queue ``alert``; return False without blocking if the lane is full or stopping."""
        with self._lock:
            if self._stopping or len(self._items) >= self._max_size:
                return False
            self._items.append(alert)
            self._accepted += 1
        self._wake.set()
        return True

    def stop(self) -> None:
        """Ask the thread to finish what is queued, call ``on_exit`` and end. Does not wait."""
        with self._lock:
            self._stopping = True
        self._wake.set()

    def join(self, deadline_ns: int) -> bool:
        """Wait until the thread ended or ``deadline_ns`` (``time.monotonic_ns``) passed.

        Returns:
            True if the thread has ended (or never started).
        """
        if not self._thread.is_alive():
            return True
        if self._thread is threading.current_thread():
            return False  # shutdown() called from inside a sink: cannot wait for ourselves
        self._thread.join(timeout=max(0.0, (deadline_ns - time.monotonic_ns()) / 1e9))
        return not self._thread.is_alive()

    def discard(self) -> int:
        """Drop everything still queued (used after a shutdown deadline) and return how many."""
        with self._lock:
            dropped = len(self._items)
            self._items.clear()
            self._finished += dropped
            self._progress.notify_all()
        return dropped

    def flush(self, deadline_ns: int) -> bool:
        """Wait until every alert accepted before the call was handled, or until the deadline.

        Returns:
            True if all of them were handled in time.
        """
        with self._lock:
            target = self._accepted
            timeout_s = max(0.0, (deadline_ns - time.monotonic_ns()) / 1e9)
            return self._progress.wait_for(lambda: self._finished >= target, timeout=timeout_s)

    def _run(self) -> None:
        while True:
            with self._lock:
                alert = self._items.popleft() if self._items else None
                if alert is None:
                    if self._stopping:
                        break
                    self._wake.clear()
            if alert is None:
                self._wake.wait()
                continue
            try:
                self._handle(alert)
            finally:
                with self._lock:
                    self._finished += 1
                    self._progress.notify_all()
        if self._on_exit is not None:
            self._on_exit()

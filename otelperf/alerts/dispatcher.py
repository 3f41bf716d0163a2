"""Deliver alerts to every sink off the caller's thread, with each sink isolated from the others.

Threads (all daemon):

* ``otelperf-alerts`` takes what :meth:`AlertDispatcher.submit` queued and fans it out;
* ``otelperf-alerts-<sink name>``, one per sink, calls that sink's ``send``.

Why one thread per sink: a sink may block for as long as its network call takes (a webhook to an
unreachable host, a vendor SDK flushing). With a thread and a bounded queue of its own, a sink
that hangs delays nothing but itself; once its queue is full, alerts for it alone are dropped and
counted. The fan-out thread only moves references between queues, so ``submit`` stays O(1) and
never waits for a sink. Alerts are rare (state changes, rate-limited), so a few idle threads
are the whole cost.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterable, Mapping

from otelperf import _fork
from otelperf.alerts._lane import Lane
from otelperf.alerts.alert import Alert
from otelperf.alerts.sink import AlertSink

__all__ = ["AlertDispatcher"]

# A child logger is not subject to the "otelperf" logger's duplicate filter, which is keyed on
# the message template: it would hide a second sink's failure behind the first's. Repeats are
# limited here instead, once per failure streak of each sink.
_log = logging.getLogger("otelperf.alerts")

QUEUE_FULL = "queue_full"
SINK_QUEUE_FULL = "sink_queue_full"
SINK_ERROR = "sink_error"
SHUTDOWN = "shutdown"
_REASONS = (QUEUE_FULL, SINK_QUEUE_FULL, SINK_ERROR, SHUTDOWN)


class _Counters:
    """Drop counters by reason, shared by the caller's threads and all lanes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # guards _dropped
        self._dropped = dict.fromkeys(_REASONS, 0)

    def add(self, reason: str, count: int = 1) -> None:
        with self._lock:
            self._dropped[reason] += count

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._dropped)


class _Throttle:
    """Say yes at most once per ``interval_s`` (warnings that repeat under sustained overload)."""

    def __init__(self, interval_s: float = 60.0) -> None:
        self._interval_ns = int(interval_s * 1e9)
        self._lock = threading.Lock()  # guards _next_ns
        self._next_ns: int | None = None

    def due(self) -> bool:
        now_ns = time.monotonic_ns()
        with self._lock:
            if self._next_ns is not None and now_ns < self._next_ns:
                return False
            self._next_ns = now_ns + self._interval_ns
            return True


class _SinkRunner:
    """One sink, its lane, and its failure streak.

    ``_failing`` is touched only by the sink's own lane thread, so it needs no lock.
    """

    def __init__(self, sink: AlertSink, *, max_size: int, counters: _Counters, start: bool) -> None:
        self.sink = sink
        self.name = str(getattr(sink, "name", type(sink).__name__))
        self._counters = counters
        self._failing = False
        self._backlog_warning = _Throttle()
        self.lane = Lane(
            thread_name=f"otelperf-alerts-{self.name}",
            handle=self._send,
            max_size=max_size,
            on_exit=self._close,
            start=start,
        )

    def offer(self, alert: Alert) -> None:
        """Queue ``alert`` for this sink, counting (and logging once) what does not fit."""
        if self.lane.put(alert):
            return
        if self.lane.stopping:
            self._counters.add(SHUTDOWN)
            return
        self._counters.add(SINK_QUEUE_FULL)
        if self._backlog_warning.due():
            _log.warning(
                "otelperf alert sink %r is not keeping up; dropping its alerts "
                "(warned at most once a minute, all drops counted)",
                self.name,
            )

    def _send(self, alert: Alert) -> None:
        try:
            self.sink.send(alert)
        except Exception:  # noqa: BLE001 - isolating sinks is this class's job (DESIGN §8)
            self._counters.add(SINK_ERROR)
            if not self._failing:
                self._failing = True
                _log.warning(
                    "otelperf alert sink %r failed; alert dropped, other sinks unaffected "
                    "(not logged again until it has delivered an alert)",
                    self.name,
                    exc_info=True,
                )
            return
        if self._failing:
            self._failing = False
            _log.info("otelperf alert sink %r works again", self.name)

    def _close(self) -> None:
        close = getattr(self.sink, "close", None)
        if not callable(close):
            return
        try:
            close()
        except Exception:  # noqa: BLE001 - a sink failing to close must not affect the others
            _log.warning("otelperf alert sink %r failed to close", self.name, exc_info=True)


class AlertDispatcher:
    """Send every submitted alert to every sink, on background threads.

    Thread-safe: any method may be called from any thread. ``submit`` never blocks and never
    raises; sinks run only on the dispatcher's threads (see the module docstring). Fork-safe:
    in a child process the dispatcher starts over with new threads and empty queues (alerts
    queued in the parent are the parent's to deliver).

    Drops are counted in :attr:`dropped` by reason:

    * ``queue_full`` — ``submit`` found the dispatcher's queue full;
    * ``sink_queue_full`` — one sink's queue was full (that sink is slow or hangs);
    * ``sink_error`` — a sink raised while sending;
    * ``shutdown`` — submitted after shutdown, or still queued when its deadline passed.
    """

    # Set by _start(), in __init__ and again in a forked child.
    _pid: int
    _lock: threading.Lock
    _closed: bool
    _queue_full_warning: _Throttle
    _counters: _Counters
    _runners: tuple[_SinkRunner, ...]
    _central: Lane

    def __init__(
        self,
        sinks: Iterable[AlertSink],
        *,
        max_queue_size: int = 1_000,
        max_sink_queue_size: int = 100,
    ) -> None:
        """Create the dispatcher and start its threads.

        Args:
            sinks: Where alerts go, in order. See :class:`~otelperf.alerts.AlertSink`.
            max_queue_size: Alerts waiting to be fanned out before ``submit`` drops.
            max_sink_queue_size: Alerts waiting for one sink before that sink's are dropped.

        Raises:
            TypeError: A sink has no ``send`` method.
            ValueError: A queue size is below 1.
        """
        self._sinks = tuple(sinks)
        for sink in self._sinks:
            if not callable(getattr(sink, "send", None)):
                raise TypeError(f"alert sink {sink!r} has no send(alert) method")
        for label, size in (
            ("max_queue_size", max_queue_size),
            ("max_sink_queue_size", max_sink_queue_size),
        ):
            if isinstance(size, bool) or not isinstance(size, int) or size < 1:
                raise ValueError(f"{label} must be an int >= 1, got {size!r}")
        self._max_queue_size = max_queue_size
        self._max_sink_queue_size = max_sink_queue_size
        self._start(closed=False)
        _fork.register(self._reinit)

    @property
    def sinks(self) -> tuple[AlertSink, ...]:
        """The sinks, in the order they were given."""
        return self._sinks

    @property
    def dropped(self) -> Mapping[str, int]:
        """A snapshot of drop counts by reason (all four reasons always present)."""
        return self._counters.snapshot()

    def submit(self, alert: Alert) -> bool:
        """Queue ``alert`` for all sinks and return at once.

        Returns:
            True if queued; False if dropped (queue full, or after shutdown), which is counted.
        """
        if os.getpid() != self._pid:
            # Fallback for runtimes that fork without running at-fork hooks (STYLE §7).
            self._reinit()
        if self._closed:
            self._counters.add(SHUTDOWN)
            return False
        if self._central.put(alert):
            return True
        self._counters.add(QUEUE_FULL)
        if self._queue_full_warning.due():
            _log.warning(
                "otelperf alert queue is full (%d alerts); dropping alerts "
                "(warned at most once a minute, all drops counted)",
                self._max_queue_size,
            )
        return False

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until every alert submitted before the call was handled by every sink.

        "Handled" means delivered, failed or dropped. A sink that hangs makes this return False
        when ``timeout_s`` has passed; it never waits longer.

        Returns:
            True if everything was handled within ``timeout_s`` seconds.
        """
        deadline_ns = time.monotonic_ns() + int(max(0.0, timeout_s) * 1e9)
        if not self._central.flush(deadline_ns):
            return False
        return all(runner.lane.flush(deadline_ns) for runner in self._runners)

    def shutdown(self, timeout_s: float = 5.0) -> None:
        """Deliver what is queued, close the sinks and stop the threads, within ``timeout_s``.

        Idempotent: later calls return at once. Sinks still busy at the deadline are left to
        their daemon threads; what they had queued is dropped (counted as ``shutdown``) and
        their ``close()`` runs when their current ``send`` returns. Later ``submit`` calls
        return False.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
        deadline_ns = time.monotonic_ns() + int(max(0.0, timeout_s) * 1e9)
        # Stop the fan-out first so everything submitted so far reaches the sink lanes.
        self._central.stop()
        self._central.join(deadline_ns)
        for runner in self._runners:
            runner.lane.stop()
        late = [runner.name for runner in self._runners if not runner.lane.join(deadline_ns)]
        dropped = self._central.discard() + sum(r.lane.discard() for r in self._runners)
        if dropped:
            self._counters.add(SHUTDOWN, dropped)
        if late:
            _log.warning(
                "otelperf alert sinks %s did not finish within %.3g s; %d queued alerts dropped",
                late,
                timeout_s,
                dropped,
            )

    def _start(self, *, closed: bool) -> None:
        # Everything that holds a lock or a thread is created here, both in __init__ and in a
        # forked child, where inherited locks may be held by threads that no longer exist.
        self._pid = os.getpid()
        self._lock = threading.Lock()  # guards the _closed transition in shutdown()
        self._closed = closed
        self._queue_full_warning = _Throttle()
        self._counters = _Counters()
        start = not closed
        self._runners = tuple(
            _SinkRunner(
                sink, max_size=self._max_sink_queue_size, counters=self._counters, start=start
            )
            for sink in self._sinks
        )
        self._central = Lane(
            thread_name="otelperf-alerts",
            handle=self._fan_out,
            max_size=self._max_queue_size,
            start=start,
        )

    def _fan_out(self, alert: Alert) -> None:
        for runner in self._runners:
            runner.offer(alert)

    def _reinit(self) -> None:
        """Start over in a forked child: new locks and threads, empty queues, zero counters.

        Alerts queued in the parent are not delivered here: the parent delivers them. A parent
        that had shut down leaves a child that is shut down too.
        """
        self._start(closed=self._closed)

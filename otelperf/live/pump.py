"""``ReceiverPump``: feed what an ``OTLPReceiver`` stores into a ``FleetMerger``, off-thread.

The receiver keeps a bounded history of requests; the pump thread (``otelperf-live-pump``) wakes
every ``interval_s``, takes the requests that arrived since its last pass (it remembers the last
one it saw, by identity, so nothing is read twice), merges them under its lock, judges the
budgets, and optionally hands each request to a forwarder (``otelperf demo --export otlp``).
Readers call :meth:`ReceiverPump.read` to run a function on the merger under the same lock.

Used by the ``otelperf demo`` and ``otelperf top`` processes only, never inside an application,
so it is not fork-aware.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

from otelperf._receiver import OTLPReceiver, ReceivedRequest
from otelperf._safety import logger
from otelperf.live.fleet import FleetMerger

__all__ = ["ReceiverPump"]

T = TypeVar("T")


class ReceiverPump:
    """Move received OTLP requests into a merger every ``interval_s``; thread-safe reads."""

    def __init__(
        self,
        receiver: OTLPReceiver,
        merger: FleetMerger,
        *,
        interval_s: float = 0.5,
        forward: Callable[[ReceivedRequest], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Prepare the pump; call :meth:`start` to run it."""
        self._receiver = receiver
        self._merger = merger
        self._interval_s = interval_s
        self._forward = forward
        self._clock = clock
        self._lock = threading.Lock()  # guards the merger and the cursor below
        self._last_seen: ReceivedRequest | None = None
        self.missed = 0  # requests evicted from the receiver before the pump read them
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="otelperf-live-pump", daemon=True)

    def start(self) -> ReceiverPump:
        """Start the pump thread; returns ``self``."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Do a last pass and stop the thread; idempotent, waits at most ~5 s."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5.0)
        self.pump()

    def read(self, fn: Callable[[FleetMerger], T]) -> T:
        """Return ``fn(merger)``, called under the pump's lock."""
        with self._lock:
            return fn(self._merger)

    def pump(self) -> int:
        """Merge the requests that arrived since the last pass; return how many there were."""
        received = self._receiver.received()
        new = self._new(received)
        now_s = self._clock()
        with self._lock:
            for request in new:
                self._merger.add_points(request.points, request.received_unix_ns / 1e9)
            for request in new:  # spans after points: an operation is known once measured
                self._merger.add_spans(request.spans)
            self._merger.tick(now_s)
        if self._forward is not None:
            for request in new:
                self._forward(request)
        return len(new)

    def _new(self, received: list[ReceivedRequest]) -> list[ReceivedRequest]:
        last = self._last_seen
        start = 0
        if last is not None:
            for index in range(len(received) - 1, -1, -1):
                if received[index] is last:
                    start = index + 1
                    break
            else:
                self.missed += 1  # the last one we saw was evicted: some may be lost
        if received:
            self._last_seen = received[-1]
        return received[start:]

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                self.pump()
            except Exception:  # noqa: BLE001 - a bad request must not stop the view
                logger.exception("otelperf live view: could not merge received data")

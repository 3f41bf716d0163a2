"""``SlowSpanWatch``: the user's ``on_slow`` callback for spans over ``slow_ms``/``very_slow_ms``.

The aggregator hands it, once per drain, the spans over the lower threshold (its only per-span
work for it is one comparison); the watch applies a rate limit and calls ``on_slow`` on a thread
of its own, so a slow or failing callback delays neither aggregation nor the application.
"""

from __future__ import annotations

import math
import queue
import threading
import time
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, TypeVar

from otelperf import _fork
from otelperf._safety import logger

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan

__all__ = ["OnSlow", "SlowSpanWatch"]

_MAX_RATE_KEYS = 10_000  # operations remembered by the on_slow rate limits
K = TypeVar("K", bound=Hashable)

OnSlow = Callable[[str, float, str], object]


class SlowSpanWatch:
    """Call ``on_slow(span_name, duration_ms, trace_id_hex)`` for slow spans, rate-limited.

    Register with ``aggregator.watch_slow(watch.threshold_ns, watch)``. Called once per drain on
    the aggregator thread with the spans over the lower threshold; it applies the rate limit
    and queues calls for the ``otelperf-on-slow`` thread, so a slow or failing callback delays
    neither aggregation nor the application. Per operation and threshold (``slow``,
    ``very_slow``) at most one call per ``min_interval_s``: a very slow span is never hidden
    by the rate limit of merely slow ones. Very slow spans are also logged as one WARNING per
    operation per ``log_interval_s``. Calls over the queue's bound are dropped and counted.
    """

    def __init__(
        self,
        *,
        slow_ms: float | None,
        very_slow_ms: float | None,
        on_slow: OnSlow | None,
        log_interval_s: float = 60.0,
        min_interval_s: float = 1.0,
        max_queue_size: int = 100,
        clock: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        """Check the thresholds and start the callback thread (when there is a callback).

        Raises:
            ValueError: Neither threshold is set, or one is not a positive number.
        """
        thresholds = [t for t in (slow_ms, very_slow_ms) if t is not None]
        if not thresholds or not all(0 < t < math.inf for t in thresholds):
            raise ValueError(
                f"SlowSpanWatch needs slow_ms or very_slow_ms > 0, got {slow_ms}, {very_slow_ms}"
            )
        self.threshold_ns = round(min(thresholds) * 1e6)
        self._slow_ns = None if slow_ms is None else round(slow_ms * 1e6)
        self._very_slow_ns = None if very_slow_ms is None else round(very_slow_ms * 1e6)
        self._very_slow_ms = very_slow_ms
        self._on_slow = on_slow
        self._log_interval_ns = round(log_interval_s * 1e9)
        self._min_interval_ns = round(min_interval_s * 1e9)
        self._max_queue_size = max_queue_size
        self._clock = clock
        self.dropped = 0  # calls refused by the rate limit or a full queue
        self._start()
        _fork.register(self._start)

    def _start(self) -> None:
        # Also the child's re-init after fork: new queue and thread, no inherited calls.
        self._last_call_ns: dict[tuple[str, bool], int] = {}
        self._last_log_ns: dict[str, int] = {}
        self._queue: queue.Queue[tuple[str, float, str] | None] = queue.Queue(self._max_queue_size)
        self._thread: threading.Thread | None = None
        if self._on_slow is not None:
            self._thread = threading.Thread(target=self._run, name="otelperf-on-slow", daemon=True)
            self._thread.start()

    def __call__(self, spans: list[ReadableSpan]) -> None:
        """Rate-limit and queue the calls for ``spans`` (the aggregator's slow hook)."""
        now_ns = self._clock()
        for span in spans:
            start_ns, end_ns = span.start_time, span.end_time
            if start_ns is None or end_ns is None:
                continue
            duration_ns = end_ns - start_ns
            very = self._very_slow_ns is not None and duration_ns >= self._very_slow_ns
            if not very and (self._slow_ns is None or duration_ns < self._slow_ns):
                continue
            duration_ms = duration_ns / 1e6
            trace_id = format(span.context.trace_id, "032x") if span.context else "0" * 32
            if very:
                self._log_very_slow(span.name, duration_ms, trace_id, now_ns)
            if self._on_slow is None:
                continue
            if not _due(self._last_call_ns, (span.name, very), now_ns, self._min_interval_ns):
                self.dropped += 1
                continue
            try:
                self._queue.put_nowait((span.name, duration_ms, trace_id))
            except queue.Full:
                self.dropped += 1

    def shutdown(self, timeout_s: float = 1.0) -> None:
        """Stop the callback thread after the queued calls; bounded by ``timeout_s``."""
        thread = self._thread
        if thread is None or not thread.is_alive():
            return
        try:
            self._queue.put(None, timeout=timeout_s)
        except queue.Full:
            return
        thread.join(timeout_s)

    def _log_very_slow(self, name: str, duration_ms: float, trace_id: str, now_ns: int) -> None:
        if _due(self._last_log_ns, name, now_ns, self._log_interval_ns):
            logger.warning(
                "otelperf: very slow span %r took %.0f ms (very_slow_ms=%g), trace %s",
                name,
                duration_ms,
                self._very_slow_ms,
                trace_id,
            )

    def _run(self) -> None:
        on_slow, failing = self._on_slow, False
        assert on_slow is not None
        while (item := self._queue.get()) is not None:
            try:
                on_slow(*item)
            except Exception:  # noqa: BLE001 - the user's callback must not end the thread
                if not failing:
                    logger.warning(
                        "otelperf: on_slow raised; call dropped (not logged again until it "
                        "succeeds)",
                        exc_info=True,
                    )
                failing = True
            else:
                failing = False


def _due(last: dict[K, int], key: K, now_ns: int, interval_ns: int) -> bool:
    """Whether ``key`` may fire now (its last firing is ``interval_ns`` old); if so, note it."""
    previous = last.get(key)
    if previous is not None and now_ns - previous < interval_ns:
        return False
    if previous is None and len(last) >= _MAX_RATE_KEYS:
        last.clear()  # bounded; forgetting only lets one extra call through per operation
    last[key] = now_ns
    return True

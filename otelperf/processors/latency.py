"""``LatencyProcessor``: feeds every ended span to the percentile aggregator in O(1).

``on_end`` runs on the application's thread for every recorded span, so it does the least work
possible: it reads the name, kind, start, end and status code (plain property reads) and appends
them as one tuple to the aggregator's bounded ring; aggregation happens on the
``otelperf-aggregator`` thread. The span itself is not kept (only a slow one, for the slow hook):
handing whole ended spans over was measured slower on the request thread, because thousands of
live spans make the cyclic GC's work grow (see ``benchmarks/README.md``).
"""

from __future__ import annotations

from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor

from otelperf._safety import logger, raise_internal_errors
from otelperf.processors.aggregator import Aggregator

__all__ = ["LatencyProcessor"]


class LatencyProcessor(SpanProcessor):
    """Record every ended span's duration in the per-operation percentile store.

    Thread-safe; ``on_end`` is O(1), takes no lock, never blocks and never raises. A full ring
    drops the span's measurement and counts it as ``otelperf.dropped{reason="queue_full"}``
    (an atomic counter bump: no lock, so an export holding the store lock cannot delay it).
    """

    def __init__(self, aggregator: Aggregator) -> None:
        """Feed ``aggregator``; its ring, capacity and keying are read once for the hot path."""
        self._aggregator = aggregator
        self._ring = aggregator.ring
        self._capacity = aggregator.capacity
        self._half = aggregator.capacity // 2
        self._keyed = aggregator.keyed
        self._count_full = aggregator.count_queue_full

    def on_end(self, span: ReadableSpan) -> None:
        """Append the ended span to the ring (see the module docstring)."""
        try:
            ring = self._ring
            queued = len(ring)
            if queued < self._capacity:
                start_ns, end_ns = span.start_time, span.end_time
                if start_ns is None or end_ns is None:
                    return
                ring.append(
                    (
                        span.name,
                        span.kind,
                        start_ns,
                        end_ns,
                        span.status.status_code,
                        span.attributes if self._keyed else None,
                        span if end_ns - start_ns >= self._aggregator.slow_ns else None,
                    )
                )
                if queued == self._half:
                    self._aggregator.wake.set()
            else:
                self._count_full()  # lock-free: the store lock may be held by an export
        except Exception:  # the span must end whatever happens here
            if raise_internal_errors():
                raise
            logger.exception("otelperf internal error in LatencyProcessor.on_end; not measured")

    def shutdown(self) -> None:
        """Drain and stop the aggregator (idempotent, bounded)."""
        self._aggregator.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Drain the ring into the store now."""
        self._aggregator.flush()
        return True

"""The ``otelperf-aggregator`` thread: drains ended spans into the percentile store.

The request thread only appends the ended span to a bounded ring (see
:class:`~otelperf.processors.latency.LatencyProcessor`). This thread wakes every ``interval_s`` or
when the ring is half full, reads each span's key, duration and error flag, and adds them to the
pure :class:`~otelperf.aggregates.KeyedWindows` store in one batch. It then runs the tick hooks
(budget evaluation) with the store, outside the request path.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

from opentelemetry.trace import SpanKind, StatusCode

from otelperf import _fork
from otelperf._safety import never_raise
from otelperf.aggregates import KeyedWindows, OperationStats

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.util.types import Attributes

#: What ``LatencyProcessor.on_end`` appends per ended span: name, kind, start and end (ns),
#: status code, the span's attributes only when ``key_attributes`` needs them, and the span
#: itself only when it is slow (the slow hook needs its trace id). Everything else about the
#: span is released at once: holding whole ended spans until the drain measured +6 % CPU on
#: the request thread (more live objects for the cyclic GC), reading five fields costs less.
RingEntry = tuple[str, SpanKind, int, int, StatusCode, "Attributes | None", "ReadableSpan | None"]

__all__ = [
    "MAX_KEY_CHARS",
    "QUEUE_FULL",
    "Aggregator",
    "RingEntry",
    "SlowHook",
    "TickHook",
    "cut_key",
]

#: The ``otelperf.dropped`` reason of spans not measured because the ring was full.
QUEUE_FULL = "queue_full"

#: Called on the aggregator thread after each drain, with the store locked by the caller.
TickHook = Callable[[int, KeyedWindows], None]
#: Called on the aggregator thread, without the store lock, with the spans of one drain whose
#: duration reached the threshold given to :meth:`Aggregator.watch_slow`.
SlowHook = Callable[[list["ReadableSpan"]], None]

_NEVER_NS = 2**63  # a threshold no span reaches: the drain's slow check costs one comparison

T = TypeVar("T")

_KIND_NAMES = {kind: kind.name.lower() for kind in SpanKind}
_ERROR = StatusCode.ERROR


class Aggregator:
    """Owns the span ring, the keyed percentile store, its lock and the aggregator thread.

    Thread-safety: :meth:`stats` and :meth:`all_stats` may be called from any thread; the ring is
    appended to by span processors without a lock (``deque.append`` is atomic under the GIL).
    """

    def __init__(
        self,
        *,
        window_s: float = 60.0,
        sub_windows: int = 6,
        max_operations: int = 2000,
        key_attributes: Sequence[str] = (),
        ring_size: int = 8192,
        interval_s: float = 0.1,
        clock: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        """Create the store and start the thread.

        Args:
            window_s: Sliding window length for statistics.
            sub_windows: Number of sub-windows the window rotates through.
            max_operations: Cap on distinct operation keys; the rest fold into ``otelperf.other``.
            key_attributes: Span attributes appended to the span name to form the key.
            ring_size: Capacity of the span ring; a full ring drops spans (counted).
            interval_s: Longest time between two drains.
            clock: Monotonic nanosecond clock (tests pass a FakeClock).

        Raises:
            ValueError: A size or duration is out of range.
        """
        if ring_size < 2 or interval_s <= 0:
            raise ValueError(
                f"ring_size must be >= 2 and interval_s > 0, got {ring_size}, {interval_s}"
            )
        # The store needs a whole number of nanoseconds per sub-window.
        window_ns = max(1, round(window_s * 1e9 / sub_windows)) * sub_windows
        self._store_args = (window_ns, sub_windows, max_operations)
        self._key_attributes = tuple(key_attributes)
        self.ring: deque[RingEntry] = deque()
        self.capacity = ring_size
        self._interval_s = interval_s
        self._clock = clock
        self._hooks: tuple[TickHook, ...] = ()  # copy-on-write: read by the thread without a lock
        # Set before spans flow (configure); read by span processors without a lock. The lowest
        # threshold of the watchers: a span under it costs the drain one comparison.
        self.slow_ns = _NEVER_NS
        self._slow_hooks: tuple[tuple[int, SlowHook], ...] = ()  # copy-on-write, like _hooks
        # Full-ring drops are counted on the request thread, so never under a lock: the store
        # lock is held for up to ~0.3 s by an export snapshot or stats() of 2000 operations, and
        # a request must not wait for that. ``next()`` on an ``itertools.count`` is one C call
        # that does not release the GIL, hence atomic (CPython with a GIL). Readers call
        # ``next()`` too, so the count is the counter's value minus the readers' calls.
        self._queue_full = itertools.count()
        self._queue_full_reads = 0  # next() calls made by readers; guarded by _drop_lock
        self._dropped: dict[str, int] = {}
        self._init_state()
        _fork.register(self._reinit)

    def _init_state(self) -> None:
        window_ns, sub_windows, max_operations = self._store_args
        self._lock = threading.Lock()  # guards self._store
        # Guards self._dropped and self._queue_full_reads, and is held only for a dict update:
        # never while the store is read, so counting a drop never waits for an export.
        self._drop_lock = threading.Lock()
        # Serialises drainers (the thread, flush() and shutdown) so two never pop the same ring;
        # span processors append without it.
        self._drain_lock = threading.Lock()
        # Serialises changes of the slow watchers (configure, and tick hooks that pause one);
        # not the store lock, which tick hooks already hold.
        self._slow_lock = threading.Lock()
        self._store = KeyedWindows(
            window_ns=window_ns, sub_windows=sub_windows, max_operations=max_operations
        )
        self.wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="otelperf-aggregator", daemon=True)
        self._thread.start()

    def _reinit(self) -> None:
        # In a forked child: the parent's thread is gone and its lock may be held. Start afresh:
        # the ring's spans and the store's statistics belong to the parent, which reports them.
        self.ring.clear()
        self._dropped = {}
        # Keep the counter object (span processors may hold its bound method) and rebase it:
        # the next read sees 0 (see dropped()).
        self._queue_full_reads = next(self._queue_full) + 1
        self._init_state()

    @property
    def window_s(self) -> float:
        """The statistics window length in seconds."""
        return self._store_args[0] / 1e9

    @property
    def sub_window_ns(self) -> int:
        """The length of one sub-window (what ``KeyedWindows.pop_closed`` returns) in ns."""
        return self._store_args[0] // self._store_args[1]

    def add_tick_hook(self, hook: TickHook) -> None:
        """Run ``hook(now_ns, store)`` on the aggregator thread after every drain."""
        with self._lock:
            self._hooks = (*self._hooks, hook)

    def watch_slow(self, threshold_ns: int, hook: SlowHook) -> None:
        """Hand every drained span lasting ``threshold_ns`` or more to ``hook``, once per drain.

        The check is one comparison per span on the aggregator thread; ``hook`` runs there too,
        after the store was updated and without its lock. Several watchers (the ``on_slow``
        watch, budget examples) each get the spans over their own threshold; the ring keeps
        the spans over the lowest one.
        """
        with self._slow_lock:
            self._slow_hooks = (*self._slow_hooks, (threshold_ns, hook))
            self.slow_ns = min(threshold for threshold, _ in self._slow_hooks)

    def retune_slow(self, hook: SlowHook, threshold_ns: int) -> None:
        """Change the threshold of the watcher ``hook`` (``2**63`` pauses it); O(watchers).

        May be called from a tick hook. Spans already in the ring keep the decision made when
        they ended.
        """
        with self._slow_lock:
            self._slow_hooks = tuple(
                (threshold_ns if watcher == hook else threshold, watcher)
                for threshold, watcher in self._slow_hooks
            )
            self.slow_ns = min(threshold for threshold, _ in self._slow_hooks)

    def now_ns(self) -> int:
        """Return the aggregator's clock (monotonic ns; what tick hooks get as ``now_ns``)."""
        return self._clock()

    def operation_key(self, span: ReadableSpan) -> str:
        """Return the operation key the store files ``span`` under (name + key attributes)."""
        key = self._key(span.name, span.attributes) if self._key_attributes else span.name
        return key if len(key) <= MAX_KEY_CHARS else cut_key(key)

    def count_queue_full(self) -> None:
        """Count one span dropped because the ring was full; lock-free, for the request thread."""
        next(self._queue_full)

    def count_drop(self, reason: str, n: int = 1) -> None:
        """Count ``n`` dropped items under ``reason`` (reported as ``otelperf.dropped``).

        Never waits for the store lock (only for a short lock of its own); ``queue_full`` takes
        no lock at all.
        """
        if reason == QUEUE_FULL:
            for _ in range(n):
                next(self._queue_full)
            return
        with self._drop_lock:
            self._dropped[reason] = self._dropped.get(reason, 0) + n

    def dropped(self) -> dict[str, int]:
        """Dropped items by reason (``queue_full`` included when non-zero), exact at the call.

        Operations folded into ``otelperf.other`` are counted by the store
        (``KeyedWindows.folded_samples``), not here.
        """
        with self._drop_lock:
            counts = dict(self._dropped)
            # This read is a next() call too: count it so the next read subtracts it.
            full = next(self._queue_full) - self._queue_full_reads
            self._queue_full_reads += 1
        if full:
            counts[QUEUE_FULL] = counts.get(QUEUE_FULL, 0) + full
        return counts

    def stats(self, operation: str) -> OperationStats | None:
        """Statistics of one operation over the window, or None if it was not seen."""
        now_ns = self._clock()
        with self._lock:
            return self._store.stats(operation, now_ns)

    def all_stats(self) -> dict[str, OperationStats]:
        """Statistics of every operation seen in the window."""
        now_ns = self._clock()
        with self._lock:
            return self._store.all_stats(now_ns)

    def with_store(self, fn: Callable[[int, KeyedWindows], T]) -> T:
        """Return ``fn(now_ns, store)`` called under the store lock (for export and metrics)."""
        now_ns = self._clock()
        with self._lock:
            return fn(now_ns, self._store)

    def flush(self) -> None:
        """Drain the ring now, on the calling thread (tests and shutdown use it)."""
        self._drain()

    def shutdown(self, *, timeout_s: float = 1.0) -> None:
        """Drain what is queued and stop the thread; idempotent, bounded by ``timeout_s``."""
        self._stop.set()
        self.wake.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout_s)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.wake.wait(self._interval_s)
            self.wake.clear()
            self._drain()
        self._drain()

    @never_raise
    def _drain(self) -> None:
        with self._drain_lock:
            self._drain_locked()

    def _drain_locked(self) -> None:
        ring = self.ring
        if not ring:
            self._tick()
            return
        key = self._key
        items = []
        slow: list[ReadableSpan] = []
        pop = ring.popleft
        for _ in range(len(ring)):
            name, kind, start_ns, end_ns, status, attributes, slow_span = pop()
            if slow_span is not None:
                slow.append(slow_span)
            operation = name if attributes is None else key(name, attributes)
            if len(operation) > MAX_KEY_CHARS:
                operation = cut_key(operation)
            items.append(
                (
                    operation,
                    _KIND_NAMES[kind],
                    end_ns - start_ns,
                    status is _ERROR,
                )
            )
        now_ns = self._clock()
        with self._lock:
            self._store.add_batch(items, now_ns)
        if slow:
            self._hand_slow(slow)
        self._tick()

    def _hand_slow(self, slow: list[ReadableSpan]) -> None:
        # Each watcher gets the spans over its own threshold; filtered here because the ring
        # kept them under the lowest threshold at the time they ended (thresholds can change).
        durations = [(_duration_ns(span), span) for span in slow]
        for threshold_ns, hook in self._slow_hooks:
            spans = [span for duration_ns, span in durations if duration_ns >= threshold_ns]
            if spans:
                never_raise(hook)(spans)

    def _tick(self) -> None:
        now_ns = self._clock()
        for hook in self._hooks:
            with self._lock:
                never_raise(hook)(now_ns, self._store)

    @property
    def keyed(self) -> bool:
        """Whether operation keys use span attributes (``key_attributes`` is set)."""
        return bool(self._key_attributes)

    def _key(self, span_name: str, attributes: Attributes | None) -> str:
        found = attributes or {}
        parts = [f"{name}={found[name]!s}" for name in self._key_attributes if name in found]
        return f"{span_name} {{{','.join(parts)}}}" if parts else span_name


#: Longest operation key kept; longer span names (a 10 kB generated name, say) are cut, so that
#: both the number (``max_operations``) and the size of keys and exported series are bounded.
MAX_KEY_CHARS = 256


def cut_key(key: str) -> str:
    """``key`` cut to :data:`MAX_KEY_CHARS` characters, the last one an ellipsis."""
    return key[: MAX_KEY_CHARS - 1] + "\u2026"


def _duration_ns(span: ReadableSpan) -> int:
    start_ns, end_ns = span.start_time, span.end_time
    return 0 if start_ns is None or end_ns is None else end_ns - start_ns

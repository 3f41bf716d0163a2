"""``SpanLeakProcessor``: reports spans that were started and never ended (DESIGN §7).

``on_start`` and ``on_end`` run on the application's thread for every recorded span, so each does
one dict operation: ``on_start`` stores ``span_id -> (name, start_ns)`` in a bounded registry and
``on_end`` pops that key. Neither takes a lock: a single ``dict`` set or pop is atomic under the
GIL (and under the per-object lock of free-threaded CPython). The only lock on the request path
is taken when the registry is full, to count the drop.

Why a ``(name, start_ns)`` tuple and not a weak reference to the span: the SDK hands ``on_end`` a
new ``ReadableSpan``, not the object ``on_start`` saw, so the key has to be the span id either
way. Storing ``weakref.ref(span)`` is 100-200 ns per span cheaper (no clock read, no tuple; see
``benchmarks/bench_span_leaks.py``) but unsound: the reference is cleared when the application
drops a span it never ended, which is the most common leak, so it would hide exactly what we look
for; and the span's own ``start_time`` is wall-clock time, not the injectable monotonic clock. A
strong reference to the span would keep every leaked span (attributes, events, links) alive; the
tuple keeps a name and an int. The key is the 64-bit span id alone: a collision between two open
spans of different traces is about as likely as a random 64-bit id repeating, and building a
``(trace_id, span_id)`` tuple on every span would cost more than it could ever save.

There is no thread. Scanning the registry is O(open spans), bounded by ``max_open``, and runs
off the request path: call :meth:`SpanLeakProcessor.check` periodically, for example from an
observable-gauge callback (which can also report :meth:`SpanLeakProcessor.unfinished` as
``otelperf.spans.unfinished``) or from an aggregator tick hook::

    aggregator.add_tick_hook(lambda now_ns, _store: leaks.check(now_ns))

Aggregator tick hooks run while the aggregator holds its store lock, so a large registry delays
statistics readers for the length of one scan (1-2 ms per 10 000 open spans on the project's
benchmark machine); prefer the metric callback when ``max_open`` is large. Both clocks must be
the same (``time.monotonic_ns`` by default).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

from otelperf import _fork
from otelperf._safety import logger, never_raise, raise_internal_errors

__all__ = [
    "DROP_REGISTRY_FULL",
    "OTHER_NAME",
    "SPAN_NAME_ATTRIBUTE",
    "UNFINISHED_METRIC",
    "LeakHook",
    "LeakingName",
    "SpanLeakProcessor",
    "SpanLeakReport",
]

#: Gauge of spans open longer than ``leak_after_s``, by span name (see ``unfinished()``).
UNFINISHED_METRIC = "otelperf.spans.unfinished"
#: The attribute carrying the span name on ``otelperf.spans.unfinished``.
SPAN_NAME_ATTRIBUTE = "span.name"
#: The name under which ``unfinished()`` counts leaking names beyond the ``top_n`` largest.
OTHER_NAME = "otelperf.other"

#: The one drop reason: a span started while ``max_open`` spans were already open.
DROP_REGISTRY_FULL = "registry_full"


@dataclass(frozen=True, slots=True)
class LeakingName:
    """Spans of one name open for longer than ``leak_after_s``.

    Attributes:
        name: The span name.
        count: How many spans of this name are open past the threshold.
        oldest_age_ns: Age of the oldest of them, in nanoseconds.
    """

    name: str
    count: int
    oldest_age_ns: int

    @property
    def oldest_age_s(self) -> float:
        """Age of the oldest of these spans, in seconds."""
        return self.oldest_age_ns / 1e9


@dataclass(frozen=True, slots=True)
class SpanLeakReport:
    """The result of one :meth:`SpanLeakProcessor.check`.

    Attributes:
        now_ns: The monotonic time of the check.
        names: The ``top_n`` leaking names, most spans first (then oldest first).
        total: Leaking spans over all names, including names not in ``names``.
        omitted_names: Leaking names left out of ``names`` because of ``top_n``.
        open_spans: Spans open at the time of the check, leaking or not.
    """

    now_ns: int
    names: tuple[LeakingName, ...]
    total: int
    omitted_names: int
    open_spans: int

    def leaking_names(self) -> frozenset[str]:
        """The names in :attr:`names` (the set ``on_leak`` is compared on)."""
        return frozenset(leak.name for leak in self.names)


#: Called by ``check()`` (on the caller's thread, no lock held) when the leaking names change.
LeakHook = Callable[[SpanLeakReport], None]


class SpanLeakProcessor(SpanProcessor):
    """Track open spans and report those open for longer than ``leak_after_s``.

    Thread-safe. ``on_start`` and ``on_end`` are O(1), take no lock (except to count a drop when
    the registry is full), never block and never raise. :meth:`check` and :meth:`unfinished` are
    O(open spans) and belong off the request path (see the module docstring).
    """

    def __init__(
        self,
        *,
        leak_after_s: float = 300.0,
        max_open: int = 10_000,
        top_n: int = 20,
        on_leak: LeakHook | None = None,
        clock: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        """Create the processor; it starts no thread.

        Args:
            leak_after_s: A span open for at least this many seconds is reported.
            max_open: Cap on tracked open spans; spans started beyond it are not tracked and are
                counted as dropped with reason ``registry_full``.
            top_n: Most leaking names listed in a report (the others are counted).
            on_leak: Called by :meth:`check` when the set of leaking names changes, at most
                once per ``leak_after_s``; an empty report means the leaks cleared.
            clock: Monotonic nanosecond clock (tests pass a FakeClock).

        Raises:
            ValueError: An argument is out of range; the message names it.
        """
        if not leak_after_s > 0:  # also rejects NaN
            raise ValueError(f"leak_after_s must be > 0, got {leak_after_s!r}")
        if isinstance(max_open, bool) or not isinstance(max_open, int) or max_open < 1:
            raise ValueError(f"max_open must be an int >= 1, got {max_open!r}")
        if isinstance(top_n, bool) or not isinstance(top_n, int) or top_n < 1:
            raise ValueError(f"top_n must be an int >= 1, got {top_n!r}")
        if on_leak is not None and not callable(on_leak):
            raise ValueError(f"on_leak must be callable or None, got {on_leak!r}")
        if not callable(clock):
            raise ValueError(f"clock must be callable, got {clock!r}")
        self._leak_after_ns = round(leak_after_s * 1e9)
        self._max_open = max_open
        self._top_n = top_n
        self._on_leak = on_leak
        self._clock = clock
        # The hot path compares against _limit; shutdown() sets it to 0 so nothing is tracked.
        self._limit = max_open
        self._shut = False
        self._init_state()
        _fork.register(self._reinit)

    def _init_state(self) -> None:
        # span_id -> (name, start_ns). Written by on_start/on_end without a lock (one atomic
        # dict operation each); check() scans a copy.
        self._open: dict[int, tuple[str, int]] = {}
        self._lock = threading.Lock()  # guards self._dropped (overflow path only)
        self._dropped: dict[str, int] = {}
        # Guards the on_leak state below: check() may run on several threads at once.
        self._check_lock = threading.Lock()
        self._reported: frozenset[str] = frozenset()
        self._last_fired_ns: int | None = None
        self._pid = os.getpid()

    def _reinit(self) -> None:
        # In a forked child: the parent's open spans are not the child's (they will end, or
        # leak, in the parent, which reports them), and the locks may be held by parent threads
        # that do not exist here. Start empty.
        self._init_state()

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        """Register the span as open (O(1), no lock, never raises)."""
        try:
            registry = self._open
            # Threads racing past this check can overshoot max_open by at most one entry each.
            if len(registry) < self._limit:
                registry[span.context.span_id] = (span.name, self._clock())
            elif not self._shut:
                self._count_drop(DROP_REGISTRY_FULL)
        except Exception:  # the span must start whatever happens here
            if raise_internal_errors():
                raise
            logger.exception("otelperf internal error in SpanLeakProcessor.on_start; not tracked")

    def on_end(self, span: ReadableSpan) -> None:
        """Remove the span from the registry (O(1), no lock, never raises)."""
        try:
            self._open.pop(span.context.span_id, None)
        except Exception:  # the span must end whatever happens here
            if raise_internal_errors():
                raise
            logger.exception("otelperf internal error in SpanLeakProcessor.on_end; not untracked")

    def _count_drop(self, reason: str) -> None:
        with self._lock:
            self._dropped[reason] = self._dropped.get(reason, 0) + 1

    def dropped(self) -> dict[str, int]:
        """Spans not tracked, by reason (``registry_full``)."""
        with self._lock:
            return dict(self._dropped)

    def open_spans(self) -> int:
        """How many spans are tracked as open right now."""
        return len(self._open)

    def _scan(self, now_ns: int) -> tuple[dict[str, list[int]], int]:
        """Group spans open for at least ``leak_after_s`` by name: name -> [count, oldest start].

        Also returns the number of open spans. O(open spans), bounded by ``max_open``.
        """
        if self._pid != os.getpid():
            # A child whose at-fork hooks did not run: the registry is the parent's.
            self._reinit()
        # dict.copy() runs in C without releasing the GIL, so it sees a consistent registry
        # while request threads keep adding and removing spans; iterating the live dict could
        # raise "dictionary changed size during iteration".
        registry = self._open.copy()
        cutoff_ns = now_ns - self._leak_after_ns
        groups: dict[str, list[int]] = {}
        for name, start_ns in registry.values():
            if start_ns > cutoff_ns:
                continue
            group = groups.get(name)
            if group is None:
                groups[name] = [1, start_ns]
            else:
                group[0] += 1
                if start_ns < group[1]:
                    group[1] = start_ns
        return groups, len(registry)

    def _ranked(self, groups: dict[str, list[int]]) -> list[tuple[str, list[int]]]:
        # Most spans first; among equals the oldest first, then by name so reports are stable.
        return sorted(groups.items(), key=lambda item: (-item[1][0], item[1][1], item[0]))

    def check(self, now_ns: int | None = None) -> SpanLeakReport:
        """Report spans open for at least ``leak_after_s``, and fire ``on_leak`` on a change.

        Call it periodically off the request path; it is O(open spans) and does not change the
        registry. ``on_leak`` runs on the calling thread after the internal lock is released,
        when the set of reported names differs from the last one it was given and at least
        ``leak_after_s`` has passed since it last ran; a suppressed change is delivered by a later
        check if it still holds. A failing hook is logged, not raised.

        Args:
            now_ns: The current monotonic time; defaults to the processor's clock.
        """
        if now_ns is None:
            now_ns = self._clock()
        if self._shut:
            return SpanLeakReport(now_ns=now_ns, names=(), total=0, omitted_names=0, open_spans=0)
        groups, open_spans = self._scan(now_ns)
        ranked = self._ranked(groups)
        names = tuple(
            LeakingName(name=name, count=count, oldest_age_ns=now_ns - start_ns)
            for name, (count, start_ns) in ranked[: self._top_n]
        )
        report = SpanLeakReport(
            now_ns=now_ns,
            names=names,
            total=sum(count for count, _ in groups.values()),
            omitted_names=max(0, len(ranked) - self._top_n),
            open_spans=open_spans,
        )
        hook = self._on_leak
        if hook is not None and self._should_fire(report):
            never_raise(hook)(report)
        return report

    def _should_fire(self, report: SpanLeakReport) -> bool:
        current = report.leaking_names()
        with self._check_lock:
            if current == self._reported:
                return False
            last_ns = self._last_fired_ns
            if last_ns is not None and report.now_ns - last_ns < self._leak_after_ns:
                return False  # rate-limited; _reported is unchanged so a later check fires
            self._reported = current
            self._last_fired_ns = report.now_ns
            return True

    def unfinished(self, now_ns: int | None = None) -> dict[str, int]:
        """Spans open for at least ``leak_after_s`` by name (``otelperf.spans.unfinished``).

        At most ``top_n`` names, plus ``otelperf.other`` for the rest, so the metric's
        cardinality is bounded. O(open spans); call it from a metric callback. Does not fire
        ``on_leak``.

        Args:
            now_ns: The current monotonic time; defaults to the processor's clock.
        """
        if self._shut:
            return {}
        groups, _ = self._scan(self._clock() if now_ns is None else now_ns)
        ranked = self._ranked(groups)
        counts = {name: count for name, (count, _) in ranked[: self._top_n]}
        rest = sum(count for _, (count, _) in ranked[self._top_n :])
        if rest:
            counts[OTHER_NAME] = counts.get(OTHER_NAME, 0) + rest
        return counts

    @never_raise
    def shutdown(self) -> None:
        """Stop tracking and forget open spans; idempotent, never blocks."""
        self._shut = True
        self._limit = 0
        self._open = {}

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Nothing is buffered for export; returns True at once."""
        return True

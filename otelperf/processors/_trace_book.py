"""Pure core of tail sampling, part 2: the bounded book of open local traces.

Spans are opaque items and time is passed in; the adapter
(:mod:`otelperf.processors.tail_sampling`) owns the lock around a :class:`TraceBook`. The
policy applied to each decided trace is :func:`otelperf.processors._tail_policy.decide`.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

from otelperf.processors._tail_policy import DropCause, Reason, decide

__all__ = ["TraceBook", "Verdict"]

S = TypeVar("S")


class _Trace:
    """The buffered part of one local trace."""

    __slots__ = ("born_ns", "flags", "open_roots", "operation", "roots", "spans")

    def __init__(self, born_ns: int, operation: str | None) -> None:
        self.born_ns = born_ns
        self.operation = operation
        self.flags = 0
        self.open_roots = 0
        self.roots: list[tuple[str, int]] = []
        self.spans: list[object] = []


@dataclass(frozen=True, slots=True)
class Verdict(Generic[S]):
    """A kept trace: export its buffered ``spans`` with ``reason``."""

    trace_id: int
    reason: Reason
    spans: list[S]


class TraceBook(Generic[S]):
    """Open local traces, bounded in traces, spans per trace, total spans and time.

    A trace is decided when its last open local root ends, when it waited ``wait_ns`` (its root
    never ended), or early when the book is full (the oldest trace goes first). Methods return
    the traces kept (:class:`Verdict`); drops are only counted (:attr:`decisions`). Spans arriving
    after the decision follow it: forwarded if the trace was kept, dropped (counted as ``late``)
    if not; decisions are remembered for the last ``max_traces`` traces. A local root starting
    in a dropped trace opens a new buffer (another request of the same trace may fail).

    Single-threaded; the adapter holds a lock around every call.
    """

    def __init__(
        self,
        *,
        max_traces: int,
        max_spans_per_trace: int,
        max_spans: int,
        wait_ns: int,
        floor_interval_ns: int | None,
        name_of: Callable[[S], str],
        max_operations: int = 4096,
    ) -> None:
        """Set the bounds (the adapter checks them); ``name_of(span)`` names an orphan's trace."""
        self._max_traces = max_traces
        self._max_spans_per_trace = max_spans_per_trace
        self._max_spans = max_spans
        self._wait_ns = wait_ns
        self._floor_interval_ns = floor_interval_ns
        self._max_operations = max_operations
        self._name_of = name_of
        self._traces: OrderedDict[int, _Trace] = OrderedDict()  # oldest first
        self._decided: OrderedDict[int, Reason | None] = OrderedDict()
        self._last_kept_ns: OrderedDict[str, int] = OrderedDict()
        self.buffered_spans = 0
        self.operations: dict[str, None] = {}
        """Operations of the local roots seen (at most ``max_operations``): whose p99 to read."""
        self.p99_ns: Mapping[str, int] = {}
        """Live p99 per operation in ns, replaced (not mutated) by the adapter's refresh."""
        self.decisions: dict[tuple[str, bool], int] = {}
        """Decided traces by (reason or drop cause, kept)."""
        self.dropped_spans: dict[str, int] = {}
        """Spans not exported because of a bound (``spans_per_trace``) or a drop (``late``)."""

    @property
    def buffered_traces(self) -> int:
        """Traces waiting for a decision."""
        return len(self._traces)

    def root_started(self, trace_id: int, now_ns: int) -> list[Verdict[S]]:
        """Note a local root's start; return the traces kept while making room.

        The trace's operation is taken when its root ends (a span may be renamed until then).
        """
        kept: list[Verdict[S]] = []
        trace = self._traces.get(trace_id)
        if trace is None:
            if self._decided.get(trace_id) is not None:
                return kept  # a kept trace: its spans are forwarded as they end
            trace = self._open(trace_id, None, now_ns, kept)
        trace.open_roots += 1
        return kept

    def head_kept(self, operation: str, now_ns: int) -> None:
        """Count a head-sampled local trace (exported by the head sampler's choice)."""
        self._count("head", kept=True)
        self._kept(operation, now_ns)

    def span_ended(
        self,
        trace_id: int,
        span: S,
        flags: int,
        root: tuple[str, int] | None,
        now_ns: int,
    ) -> tuple[Reason | None, list[Verdict[S]]]:
        """Buffer an ended span; return (reason to forward it now, or None; traces kept now).

        Args:
            trace_id: Its trace.
            span: The span (opaque).
            flags: Its flags.
            root: ``(operation, duration_ns)`` if it is a local root, else None.
            now_ns: The current time.
        """
        kept: list[Verdict[S]] = []
        trace = self._traces.get(trace_id)
        if trace is None:
            if trace_id in self._decided:
                reason = self._decided[trace_id]
                if reason is None:
                    self._drop("late")
                return reason, kept
            name = root[0] if root else self._name_of(span)
            trace = self._open(trace_id, name, now_ns, kept)
        trace.flags |= flags
        if root is not None:
            operation = root[0]
            trace.roots.append(root)
            trace.operation = operation
            trace.open_roots -= 1
            if operation not in self.operations and len(self.operations) < self._max_operations:
                self.operations[operation] = None
        if root is not None or len(trace.spans) < self._max_spans_per_trace:
            trace.spans.append(span)  # a local root is always kept: it names the trace
            self.buffered_spans += 1
        else:
            self._drop("spans_per_trace")
        if root is not None and trace.open_roots <= 0:
            self._decide(trace_id, "sampled_out", now_ns, kept)
        while self.buffered_spans > self._max_spans and self._traces:
            self._decide(next(iter(self._traces)), "buffer_full", now_ns, kept)
        return None, kept

    def expire(self, now_ns: int) -> list[Verdict[S]]:
        """Decide every trace that has waited ``wait_ns`` or more; return those kept."""
        kept: list[Verdict[S]] = []
        traces = self._traces
        while traces:
            trace_id, trace = next(iter(traces.items()))  # the oldest: O(1), no copy
            if now_ns - trace.born_ns < self._wait_ns:
                break
            self._decide(trace_id, "wait", now_ns, kept)
        return kept

    def close(self, now_ns: int) -> list[Verdict[S]]:
        """Decide every buffered trace now (at shutdown); return those kept."""
        kept: list[Verdict[S]] = []
        for trace_id in list(self._traces):
            self._decide(trace_id, "shutdown", now_ns, kept)
        return kept

    def _open(
        self, trace_id: int, operation: str | None, now_ns: int, kept: list[Verdict[S]]
    ) -> _Trace:
        while len(self._traces) >= self._max_traces:
            self._decide(next(iter(self._traces)), "buffer_full", now_ns, kept)
        self._decided.pop(trace_id, None)  # a new local root in a dropped trace decides anew
        trace = self._traces[trace_id] = _Trace(now_ns, operation)
        return trace

    def _decide(self, trace_id: int, cause: DropCause, now_ns: int, kept: list[Verdict[S]]) -> None:
        """Decide one trace; append it to ``kept`` if kept (a drop allocates nothing)."""
        trace = self._traces.pop(trace_id)
        spans = trace.spans
        self.buffered_spans -= len(spans)
        operation = trace.operation
        if operation is None:  # its root has not ended: name it after its first span
            operation = self._name_of(spans[0]) if spans else ""  # type: ignore[arg-type]
        last_ns = self._last_kept_ns.get(operation)
        reason = decide(
            trace.flags,
            trace.roots,
            self.p99_ns,
            since_kept_ns=None if last_ns is None else now_ns - last_ns,
            floor_interval_ns=self._floor_interval_ns,
        )
        decided = self._decided
        decided[trace_id] = reason
        if len(decided) > self._max_traces:
            decided.popitem(last=False)
        decisions = self.decisions
        key = (cause, False) if reason is None else (reason, True)
        decisions[key] = decisions.get(key, 0) + 1
        if reason is not None:
            self._kept(operation, now_ns)
            kept.append(Verdict(trace_id, reason, spans))  # type: ignore[arg-type]

    def _kept(self, operation: str, now_ns: int) -> None:
        last = self._last_kept_ns
        last[operation] = now_ns
        last.move_to_end(operation)
        if len(last) > self._max_operations:
            last.popitem(last=False)

    def _count(self, label: str, *, kept: bool) -> None:
        key = (label, kept)
        self.decisions[key] = self.decisions.get(key, 0) + 1

    def _drop(self, reason: str) -> None:
        self.dropped_spans[reason] = self.dropped_spans.get(reason, 0) + 1

"""Pure core of tail sampling: the keep/drop policy and the bounded book of open local traces.

Nothing here knows OpenTelemetry, threads or clocks: spans are opaque items, time is passed in,
and the adapter (:mod:`otelperf.processors.tail_sampling`) owns the lock around a
:class:`TraceBook`. What a span contributes is summarised when it ends, as bit flags
(:data:`ERROR`, :data:`SLOW`, :data:`BUDGET`) and, for a local root, its operation and
duration, so a decision costs O(1) whatever the trace's size.

Policy (:func:`decide`), first match wins: ``error`` (a span has error status), ``slow`` (a span
lasted ``slow_ms`` or more), ``budget`` (a span exceeded its operation's budget threshold),
``outlier`` (a local root was slower than its operation's live p99), ``floor`` (no trace of
the operation was kept for ``floor_interval``); otherwise the trace is dropped. Head-sampled
traces (reason ``head``) never reach the book: the head sampler already chose them.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final, Generic, Literal, TypeVar

from otelperf.budgets import Budget

__all__ = [
    "BUDGET",
    "DROP_CAUSES",
    "ERROR",
    "KEEP_REASONS",
    "SLOW",
    "TraceBook",
    "Verdict",
    "budget_threshold_ms",
    "decide",
]

S = TypeVar("S")

Reason = Literal["error", "slow", "budget", "outlier", "head", "floor"]
KEEP_REASONS: Final = ("error", "slow", "budget", "outlier", "head", "floor")
"""Values of ``otelperf.sampling.reason`` on kept spans."""
DropCause = Literal["sampled_out", "buffer_full", "wait", "shutdown"]
DROP_CAUSES: Final = ("sampled_out", "buffer_full", "wait", "shutdown")
"""Why a dropped trace was decided when it was: its local roots ended (``sampled_out``), the
buffer was full (``buffer_full``: decided early), its root did not end within the wait
(``wait``), or the processor shut down (``shutdown``)."""

ERROR: Final = 1
"""Span flag: the span has error status."""
SLOW: Final = 2
"""Span flag: the span lasted ``slow_ms`` or more."""
BUDGET: Final = 4
"""Span flag: the span exceeded its operation's budget threshold."""

# Statistics whose threshold bounds single requests: a span over it is worth keeping. A p50 or
# p75 budget lets a quarter to half of all requests exceed it, so keeping those would undo the
# sampling; a tail percentile, the maximum or an SLO's latency bound does not.
_TAIL_STATISTICS = frozenset({"p95", "p99", "p999", "max", "slo"})


def budget_threshold_ms(budgets: tuple[Budget, ...]) -> Callable[[str, str], float | None]:
    """Return ``threshold_ms(operation, kind)``: the span-level limit the budgets imply.

    It is the largest threshold among the budgets that select the operation and bound single
    requests (p95, p99, p999, max and SLO budgets): a span over it breaks every one of them.
    None when no such budget selects the operation. ``kind`` is the span kind in any case.
    """
    tail = tuple(b for b in budgets if b.statistic in _TAIL_STATISTICS)
    empty: Mapping[str, str] = {}

    def threshold_ms(operation: str, kind: str) -> float | None:
        found = [b.threshold for b in tail if b.matches(operation, kind, empty)]
        return max(found) if found else None

    return threshold_ms


def decide(
    flags: int,
    roots: list[tuple[str, int]],
    p99_ns: Mapping[str, int],
    *,
    since_kept_ns: int | None,
    floor_interval_ns: int | None,
) -> Reason | None:
    """Return why a trace is kept, or None to drop it.

    Args:
        flags: The OR of its spans' flags (:data:`ERROR`, :data:`SLOW`, :data:`BUDGET`).
        roots: ``(operation, duration_ns)`` of each local root that ended.
        p99_ns: Live p99 per operation, in ns (operations with too few samples are absent).
        since_kept_ns: Time since a trace of its operation was last kept; None if never.
        floor_interval_ns: Keep one trace per operation per this interval; None disables.
    """
    if flags & ERROR:
        return "error"
    if flags & SLOW:
        return "slow"
    if flags & BUDGET:
        return "budget"
    for operation, duration_ns in roots:
        p99 = p99_ns.get(operation)
        if p99 is not None and duration_ns > p99:
            return "outlier"
    if floor_interval_ns is not None and (
        since_kept_ns is None or since_kept_ns >= floor_interval_ns
    ):
        return "floor"
    return None


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

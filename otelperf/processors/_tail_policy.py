"""Pure core of tail sampling, part 1: the keep/drop policy (part 2: :mod:`._trace_book`).

Nothing here knows OpenTelemetry, threads or clocks. What a span contributes is summarised when
it ends, as bit flags (:data:`ERROR`, :data:`SLOW`, :data:`BUDGET`) and, for a local root, its
operation and duration, so a decision costs O(1) whatever the trace's size.

Policy (:func:`decide`), first match wins: ``error`` (a span has error status), ``slow`` (a span
lasted ``slow_ms`` or more), ``budget`` (a span exceeded its operation's budget threshold),
``outlier`` (a local root was slower than its operation's live p99), ``floor`` (no trace of
the operation was kept for ``floor_interval``); otherwise the trace is dropped. Head-sampled
traces (reason ``head``) are never judged: the head sampler already chose them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Final, Literal

from otelperf.budgets import Budget

__all__ = [
    "BUDGET",
    "DROP_CAUSES",
    "ERROR",
    "KEEP_REASONS",
    "SLOW",
    "DropCause",
    "Reason",
    "budget_threshold_ms",
    "check_limits",
    "decide",
]

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


def check_limits(counts: dict[str, int], durations: dict[str, float | None]) -> None:
    """Check a tail sampler's bounds (integers >= 1) and durations (finite, >= 0, or None).

    Raises:
        ValueError: Naming the first bad argument and its value.
    """
    for name, count in counts.items():
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {count!r}")
    for name, value in durations.items():
        if value is not None and not 0 <= value < float("inf"):
            raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")

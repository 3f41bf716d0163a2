"""``ExampleTraces``: a recent exported trace over each latency budget, for the alert to link.

DESIGN §8: an alert carries the trace id of a kept example where there is one. The aggregator
already keeps a span in its ring when the span is slow (one comparison on the request thread,
see ``Aggregator.watch_slow``); this watcher asks for the spans over the lowest latency threshold
of the budgets, and on the aggregator thread remembers, per (alert operation, threshold), the
trace id of the latest one that is over it. Only head-sampled spans count (their ``sampled``
flag is set): a span the sampler dropped was measured but never exported, so its trace could
not be opened in a backend.

Cost: nothing per span when no latency budget is configured (the watcher is not installed);
otherwise the ring holds a reference to each span over the lowest threshold until the next drain
(~100 ms), and the drain does O(matching budgets) dictionary work per such span. Holding ended
spans is not free: with every span over the threshold (an outage, or a p50 budget) the request
thread measured +49 % CPU over the LatencyProcessor alone, mostly cyclic-GC work on the live
spans (``benchmarks/bench_budgets.py``). :class:`ExampleDuty` bounds it: once a drain brings
``busy`` such spans, examples are collected during one drain per second only; examples are
then plentiful anyway. Memory: at most ``max_entries`` examples and cached operation matches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from otelperf.budgets import Budget

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan

__all__ = ["ExampleDuty", "ExampleTraces"]

_NS_PER_MS = 1_000_000
# (alert operation, threshold in ms): the operation key for a budget, the selector for an SLO
# (an SLO alert covers every operation it selects), as in the alerts themselves.
_Target = tuple[str, float]


class ExampleTraces:
    """Remember the trace id of the latest sampled span over each latency budget's threshold.

    Called as a slow hook on the aggregator thread; :meth:`find` is called on the same thread
    (the tick hook), so no lock is needed. The owner sets ``now_ns`` (its clock) before each
    call: examples are stamped with it.
    """

    __slots__ = (
        "_budgets",
        "_examples",
        "_key_of",
        "_max_entries",
        "_targets",
        "handed",
        "now_ns",
    )

    def __init__(
        self,
        budgets: Iterable[Budget],
        *,
        key_of: Callable[[ReadableSpan], str],
        max_entries: int = 10_000,
    ) -> None:
        """Watch the latency budgets among ``budgets`` (error-rate budgets have no example).

        Args:
            budgets: The budgets and SLOs.
            key_of: The operation key of a span, as the store files it.
            max_entries: Bound on examples kept and on cached operation matches.
        """
        self._budgets = tuple(b for b in budgets if b.statistic != "error_rate")
        self._key_of = key_of
        self._max_entries = max_entries
        self._targets: dict[str, tuple[_Target, ...]] = {}
        self._examples: dict[_Target, tuple[int, int]] = {}  # -> (trace id, now_ns when seen)
        self.now_ns = 0
        self.handed = 0  # spans handed in since the owner last reset it

    @property
    def threshold_ns(self) -> int | None:
        """The lowest latency threshold (what the aggregator must keep), or None if none."""
        if not self._budgets:
            return None
        return int(min(budget.threshold for budget in self._budgets) * _NS_PER_MS)

    def __call__(self, spans: list[ReadableSpan]) -> None:
        """Note the sampled spans over a matching budget's threshold (the aggregator's hook)."""
        self.handed += len(spans)
        for span in spans:
            context = span.context
            start_ns, end_ns = span.start_time, span.end_time
            if context is None or not context.trace_flags.sampled or start_ns is None:
                continue
            if end_ns is None:
                continue
            duration_ms = (end_ns - start_ns) / _NS_PER_MS
            for target in self._targets_of(span):
                if duration_ms > target[1]:
                    self._remember(target, context.trace_id)

    def find(self, operation: str, threshold_ms: float, *, since_ns: int) -> str | None:
        """Return the trace id (32 hex digits) of the latest example seen at or after ``since_ns``.

        Args:
            operation: The alert's operation (operation key, or an SLO's selector).
            threshold_ms: The budget's threshold.
            since_ns: Oldest acceptable time (the owner's clock): older examples are stale.
        """
        found = self._examples.get((operation, threshold_ms))
        if found is None or found[1] < since_ns:
            return None
        return format(found[0], "032x")

    def _targets_of(self, span: ReadableSpan) -> tuple[_Target, ...]:
        key = self._key_of(span)
        targets = self._targets.get(key)
        if targets is None:
            if len(self._targets) >= self._max_entries:
                self._targets.clear()  # bounded like the evaluator's match caches
            kind = span.kind.name.lower()
            targets = tuple(
                dict.fromkeys(
                    (budget.selector if budget.is_slo else key, budget.threshold)
                    for budget in self._budgets
                    if budget.matches(key, kind, {})
                )
            )
            self._targets[key] = targets
        return targets

    def _remember(self, target: _Target, trace_id: int) -> None:
        examples = self._examples
        # Re-inserted last, so the first entry is the least recently seen: dropped when full.
        if examples.pop(target, None) is None and len(examples) >= self._max_entries:
            del examples[next(iter(examples))]
        examples[target] = (trace_id, self.now_ns)


class ExampleDuty:
    """When to watch for examples: always, unless the spans over the threshold are many.

    After each drain the owner reports how many spans the watcher was handed. At ``busy`` or
    more, watching pauses for ``pause_ns`` and then resumes for (at least) one drain: while spans
    over the threshold stay that common, examples are collected one drain out of ten (with
    100 ms drains and a 1 s pause), which bounds the cost of holding them in the ring. Pure.
    """

    __slots__ = ("_busy", "_pause_ns", "_paused_until")

    def __init__(self, *, busy: int = 256, pause_ns: int = 1_000_000_000) -> None:
        """Pause after a drain handing ``busy`` spans or more, for ``pause_ns``."""
        self._busy = busy
        self._pause_ns = pause_ns
        self._paused_until: int | None = None

    def after_drain(self, now_ns: int, handed: int) -> bool:
        """Return whether to watch during the next drain, given what the last one handed."""
        if self._paused_until is not None:
            if now_ns < self._paused_until:
                return False  # spans handed now were kept before the pause: not a measure
            self._paused_until = None
            return True
        if handed >= self._busy:
            self._paused_until = now_ns + self._pause_ns
            return False
        return True

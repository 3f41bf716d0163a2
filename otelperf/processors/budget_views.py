"""``OperationView`` adapters: what the budget evaluator reads, over the store's data.

Pure (no OpenTelemetry import, no clock, no lock): the views wrap objects the aggregator's
store hands out and never change them. Quantiles are computed once per view and remembered,
so a view reused across ticks costs nothing until its data changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from otelperf.aggregates import ExpSketch, OperationStats

__all__ = ["LiveView", "SketchView"]

_EMPTY: Mapping[str, str] = MappingProxyType({})
_MS_PER_S = 1000.0


class LiveView:
    """``OperationView`` over one operation's live-window ``OperationStats``.

    ``OperationStats`` already holds p50/p90/p95/p99/p999; other quantiles are computed from
    its sketch once per view. The store returns the same ``OperationStats`` object while the
    operation is unchanged, so views (and their memo) are reused across ticks.
    """

    __slots__ = ("_memo", "stats")

    attributes = _EMPTY  # operation keys carry their key attributes in the name already

    def __init__(self, stats: OperationStats) -> None:
        """Wrap ``stats`` (read-only)."""
        self.stats = stats
        self._memo = {
            0.5: stats.p50_ms,
            0.9: stats.p90_ms,
            0.95: stats.p95_ms,
            0.99: stats.p99_ms,
            0.999: stats.p999_ms,
        }

    @property
    def operation(self) -> str:
        """The operation key."""
        return self.stats.operation

    @property
    def kind(self) -> str:
        """The span kind name (lower case, or ``mixed``)."""
        return self.stats.kind

    @property
    def count(self) -> int:
        """Requests in the window."""
        return self.stats.count

    @property
    def errors(self) -> int:
        """Failed requests in the window."""
        return self.stats.errors

    @property
    def mean_ms(self) -> float:
        """Mean duration in ms."""
        return self.stats.mean_ms

    @property
    def max_ms(self) -> float:
        """Largest duration in ms."""
        return self.stats.max_ms

    def quantile(self, q: float) -> float:
        """The ``q`` quantile of durations in ms (remembered)."""
        value = self._memo.get(q)
        if value is None:
            value = self._memo[q] = self.stats.quantile(q)
        return value

    def count_over(self, threshold_ms: float) -> int:
        """Requests slower than ``threshold_ms``."""
        return self.stats.count_over(threshold_ms)


class SketchView:
    """``OperationView`` over a sketch in seconds: a closed sub-window or a longer window."""

    __slots__ = ("_memo", "_sketch", "errors", "kind", "operation")

    attributes = _EMPTY

    def __init__(self, operation: str, kind: str, sketch: ExpSketch, errors: int) -> None:
        """Wrap ``sketch``, which the caller no longer changes."""
        self.operation = operation
        self.kind = kind
        self.errors = errors
        self._sketch = sketch
        self._memo: dict[float, float] = {}

    @property
    def count(self) -> int:
        """Requests in the window."""
        return self._sketch.count

    @property
    def mean_ms(self) -> float:
        """Mean duration in ms (0 when empty)."""
        sketch = self._sketch
        return sketch.sum / sketch.count * _MS_PER_S if sketch.count else 0.0

    @property
    def max_ms(self) -> float:
        """Largest duration in ms."""
        return self._sketch.max * _MS_PER_S

    def quantile(self, q: float) -> float:
        """The ``q`` quantile of durations in ms (remembered)."""
        value = self._memo.get(q)
        if value is None:
            value = self._memo[q] = self._sketch.quantile(q) * _MS_PER_S
        return value

    def count_over(self, threshold_ms: float) -> int:
        """Requests slower than ``threshold_ms``."""
        return self._sketch.count_over(threshold_ms / _MS_PER_S)

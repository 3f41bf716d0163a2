"""What a budget check found: the spans it read, per-operation results and the verdict.

Pure data (no ``opentelemetry`` import), built by ``_judge`` and rendered by ``_message``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from otelperf.budgets import Budget, State

__all__ = ["BudgetCheck", "OperationResult", "Outcome", "SpanSample"]

Outcome = Literal["passed", "failed", "insufficient_data", "no_match"]
"""How a budget check ended: ``failed`` means a measured value broke the budget."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SpanSample:
    """One ended span as a budget check reads it.

    Attributes:
        name: The operation key (the span name).
        duration_ms: End minus start, in milliseconds.
        kind: The span kind in lower case (``server``, ``client``, ``internal``...).
        error: Whether the span's status is ERROR.
        attributes: The span's attributes as text (read by ``attr.KEY=VALUE`` selectors).
        trace_id: The trace id as 32 hex digits, shown for the slowest spans ("" if unknown).
    """

    name: str
    duration_ms: float
    kind: str = "internal"
    error: bool = False
    attributes: Mapping[str, str] = field(default_factory=dict)
    trace_id: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class OperationResult:
    """Statistics of one operation's matching spans, and its verdict.

    Durations are milliseconds, computed exactly from the spans (linear interpolation between the
    two nearest samples, the rule ``otelperf.stats()`` uses).

    Attributes:
        operation: The operation key (span name).
        kind: The span kind of its spans (``mixed`` if they differ).
        count: How many spans matched.
        errors: How many of them had an ERROR status.
        mean_ms: Mean duration.
        p50_ms: Median duration.
        p90_ms: 90th percentile.
        p95_ms: 95th percentile.
        p99_ms: 99th percentile.
        max_ms: Longest duration.
        actual: The budget's statistic for this operation (ms, or a fraction for ``error_rate``);
            None with fewer spans than the budget's ``min``. For an SLO, the fraction of this
            operation's spans at or under the threshold (the SLO is judged on all rows together).
        ratio: ``actual / threshold``, or None.
        state: ``ok``, ``warning``, ``error``, ``critical`` (the budget's ratios, as in production)
            or ``insufficient_data``; None for the rows of an SLO.
        slowest: Up to three of its slowest spans, slowest first.
    """

    operation: str
    kind: str
    count: int
    errors: int
    mean_ms: float
    p50_ms: float
    p90_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    actual: float | None
    ratio: float | None
    state: State | None
    slowest: tuple[SpanSample, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class BudgetCheck:
    """The verdict of one budget over the spans of a test.

    Attributes:
        budget: The budget judged.
        outcome: ``passed``; ``failed`` (a value broke the budget); ``insufficient_data`` (no
            operation had the budget's ``min`` spans); ``no_match`` (no span matched).
        operations: Every matching operation, worst first.
        seen: ``(name, kind, count)`` of every operation among the spans, most frequent first.
        total: How many spans were read.
        matched: How many of them matched the selector.
        compliance: SLO only: the fraction of matching spans at or under the threshold.
        message: The human-readable verdict (what ``assert_budget`` fails with).
    """

    budget: Budget
    outcome: Outcome
    operations: tuple[OperationResult, ...]
    seen: tuple[tuple[str, str, int], ...]
    total: int
    matched: int
    compliance: float | None = None
    message: str = ""

    @property
    def passed(self) -> bool:
        """Whether the budget held."""
        return self.outcome == "passed"

    def __str__(self) -> str:
        """Return the message."""
        return self.message

"""What the evaluator reports: state changes to alert on, and the current status of each budget."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from otelperf.budgets.budget import Budget, Unit

__all__ = ["STATES", "BudgetStatus", "BurnRate", "State", "Transition", "TransitionKind", "Unit"]

State = Literal["ok", "warning", "error", "critical", "insufficient_data"]
"""The state of one budget for one operation (DESIGN §5)."""

STATES: tuple[State, ...] = ("ok", "warning", "error", "critical", "insufficient_data")
"""Every state, quiet ones first and breaches by increasing severity."""

TransitionKind = Literal["budget", "slo", "regression"]
"""What changed: a latency/error budget, an SLO's burn rate, or a regression from baseline."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Transition:
    """One state change worth an alert: a breach that starts, escalates, eases or resolves.

    Attributes:
        kind: ``budget``, ``slo`` or ``regression``.
        operation: The operation key; for an SLO, its selector (an SLO covers every operation
            it selects together).
        state: The new state. ``ok`` or ``insufficient_data`` means the alert is resolved
            (``insufficient_data``: the operation had no traffic left in the window).
        previous: The state announced before this one.
        budget: The budget, or None for a regression.
        budget_text: ``budget.text``; for a regression ``p95<2x baseline``.
        actual: The measured value (``unit``), or None when there was no data.
        threshold: What ``actual`` is compared with: the budget threshold; for an SLO the
            allowed bad fraction ``1 - objective``; for a regression factor x baseline.
        unit: The unit of ``actual`` and ``threshold``.
        ratio: ``actual / threshold``, or None.
        burn_rate: SLO only: bad fraction / (1 - objective) over ``window_s``.
        baseline_ms: Regression only: the operation's p95 baseline.
        window_s: The window ``actual`` was measured over.
        at_ns: The ``now_ns`` of the evaluation that produced it.
    """

    kind: TransitionKind
    operation: str
    state: State
    previous: State
    budget: Budget | None
    budget_text: str
    actual: float | None
    threshold: float
    unit: Unit
    ratio: float | None
    burn_rate: float | None = None
    baseline_ms: float | None = None
    window_s: float | None
    at_ns: int

    @property
    def resolved(self) -> bool:
        """Whether this closes the alert (the new state is not a breach)."""
        return self.state in ("ok", "insufficient_data")


@dataclass(frozen=True, slots=True, kw_only=True)
class BudgetStatus:
    """The current state of one budget for one operation (``otelperf.budget_report()``).

    Attributes:
        budget: The budget.
        operation: The operation key; the selector itself for an SLO, or for a budget that
            matched no operation in the window (then the state is ``insufficient_data``).
        state: The current state (hysteresis applied).
        actual: The measured value in ``unit``, or None without enough data. For an SLO, the
            bad fraction over the last hour.
        unit: The unit of ``actual``.
        ratio: ``actual`` / threshold (for an SLO: the one-hour burn rate), or None.
        burn_rate: SLO only: the one-hour burn rate.
        window_s: The window ``actual`` covers.
    """

    budget: Budget
    operation: str
    state: State
    actual: float | None
    unit: Unit
    ratio: float | None
    burn_rate: float | None
    window_s: float | None

    @property
    def actual_ms(self) -> float | None:
        """``actual`` when it is a duration, else None (error rates and SLOs are fractions)."""
        return self.actual if self.unit == "ms" else None


@dataclass(frozen=True, slots=True, kw_only=True)
class BurnRate:
    """An SLO's error-budget burn rate over one of its alerting windows (5m, 1h, 30m, 6h).

    Attributes:
        budget: The SLO budget.
        operation: Its selector (an SLO covers every operation it selects together).
        window_s: The window: 300, 3600, 1800 or 21600 seconds.
        burn_rate: Bad fraction over the window / (1 - objective); 1 spends the error budget
            exactly over the SLO period.
        requests: Requests in the window (at least the budget's ``min``).
    """

    budget: Budget
    operation: str
    window_s: float
    burn_rate: float
    requests: int

"""Budgets judged on the merged fleet: the pure ``BudgetEvaluator`` over window views.

Each process judges its own budgets on its own traffic; the fleet view judges the same budgets
again on the merged histograms of all processes, which is the state a user of the whole service
sees. State changes become :class:`~otelperf.report.model.AlertEntry` lines with the same titles
the alert sinks use, and every judgement is kept as a budget timeline point (bounded).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping

from otelperf.aggregates import OperationStats
from otelperf.budgets import Budget, BudgetEvaluator
from otelperf.processors.budget_views import LiveView
from otelperf.processors.budgets import to_alert
from otelperf.report.model import AlertEntry, BudgetPoint

__all__ = ["FleetJudge", "worse"]

_RANK = {"": 0, "insufficient_data": 1, "ok": 2, "warning": 3, "error": 4, "critical": 5}


def worse(a: str, b: str) -> str:
    """The more severe of two budget states (a breach beats ``ok`` beats no data)."""
    return a if _RANK.get(a, 0) >= _RANK.get(b, 0) else b


class FleetJudge:
    """Evaluate ``budgets`` on fleet windows; keep the states, their timeline and the alerts.

    Not thread-safe (the fleet merger's owner serialises calls).
    """

    def __init__(
        self,
        budgets: tuple[Budget, ...],
        *,
        window_s: float,
        alert_interval_s: float = 5.0,
        max_points: int = 20_000,
    ) -> None:
        """Prepare the evaluator (regressions off: the report finds those on the timeline).

        Raises:
            ConfigError: A budget or an interval is invalid.
        """
        self._evaluator = (
            BudgetEvaluator(
                budgets,
                live_window_s=window_s,
                alert_interval_s=alert_interval_s,
                regression_factor=None,
            )
            if budgets
            else None
        )
        self._states: dict[str, str] = {}
        self._timeline: deque[BudgetPoint] = deque(maxlen=max_points)
        self._last: dict[tuple[str, str], str] = {}

    @property
    def active(self) -> bool:
        """Whether there is anything to judge."""
        return self._evaluator is not None

    def judge(self, now_s: float, window: Mapping[str, OperationStats]) -> list[AlertEntry]:
        """Judge one window; return the alerts for the states that changed."""
        if self._evaluator is None:
            return []
        views = {name: LiveView(stats) for name, stats in window.items()}
        transitions = self._evaluator.evaluate(round(now_s * 1e9), views)
        states: dict[str, str] = {}
        for status in self._evaluator.report():
            states[status.operation] = worse(states.get(status.operation, ""), status.state)
            key = (status.budget.text, status.operation)
            if self._last.get(key) == status.state:
                continue  # the timeline keeps changes only: a state holds until the next point
            self._last[key] = status.state
            self._timeline.append(
                BudgetPoint(
                    t_s=now_s,
                    budget=status.budget.text,
                    operation=status.operation,
                    state=status.state,
                    actual=status.actual,
                    ratio=status.ratio,
                )
            )
        self._states = states
        alerts = []
        for transition in transitions:
            try:
                alert = to_alert(transition, service="fleet")
            except ValueError:
                continue
            alerts.append(
                AlertEntry(
                    t_s=now_s,
                    source="fleet",
                    kind=alert.kind.value,
                    severity=alert.severity.value,
                    title=alert.title,
                    operation=alert.operation,
                )
            )
        return alerts

    def states(self) -> Mapping[str, str]:
        """The worst state of each operation's budgets at the last judgement."""
        return self._states

    def timeline(self) -> tuple[BudgetPoint, ...]:
        """Every state change, oldest first (the oldest are dropped past ``max_points``).

        The first state of each budget and operation counts as a change.
        """
        return tuple(self._timeline)

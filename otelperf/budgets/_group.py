"""Latency and error-rate budgets judged on one window, per (budget, operation)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from otelperf.budgets._tracks import Track, Tracks, climb
from otelperf.budgets._view import OperationView
from otelperf.budgets.budget import QUANTILES, Budget
from otelperf.budgets.events import BudgetStatus, State, Transition

__all__ = ["BudgetGroup", "status"]


@dataclass(frozen=True, slots=True)
class _Rule:
    """A budget with what each tick needs precomputed: its quantile and absolute bounds."""

    index: int
    budget: Budget
    quantile: float | None
    bounds: tuple[float, float, float]


class BudgetGroup:
    """The non-SLO budgets that share one window length, with cached operation matches."""

    __slots__ = (
        "_budgets",
        "_interval_ns",
        "_matches",
        "_max_operations",
        "_rules",
        "_tracks",
        "window_s",
    )

    def __init__(
        self,
        window_s: float,
        budgets: Mapping[int, Budget],
        *,
        interval_ns: int,
        max_operations: int,
    ) -> None:
        """Judge ``budgets`` (keyed by their index in the evaluator) on windows of ``window_s``."""
        self.window_s = window_s
        self._budgets = dict(budgets)
        self._rules = tuple(
            _Rule(
                index,
                budget,
                QUANTILES.get(budget.statistic),
                (
                    budget.warning_ratio * budget.threshold,
                    budget.error_ratio * budget.threshold,
                    budget.critical_ratio * budget.threshold,
                ),
            )
            for index, budget in budgets.items()
        )
        self._matches: dict[str, tuple[_Rule, ...]] = {}
        self._tracks: Tracks[tuple[int, str]] = Tracks()
        self._interval_ns = interval_ns
        self._max_operations = max_operations

    @property
    def budgets(self) -> tuple[Budget, ...]:
        """The budgets of this group, in evaluator order."""
        return tuple(self._budgets.values())

    def judge(
        self, tick: int, now_ns: int, views: Mapping[str, OperationView], out: list[Transition]
    ) -> None:
        """Judge every matching (budget, operation) of ``views``; append transitions to ``out``."""
        tracks = self._tracks
        for name, view in views.items():
            rules = self._matches.get(name)
            if rules is None:
                if len(self._matches) >= self._max_operations:
                    # Keys are bounded upstream; this only guards against an adapter that
                    # passes unbounded keys. Dropping the cache just costs re-matching.
                    self._matches.clear()
                kind, attributes = view.kind, view.attributes
                rules = tuple(r for r in self._rules if r.budget.matches(name, kind, attributes))
                self._matches[name] = rules
            for rule in rules:
                key = (rule.index, name)
                track = tracks.get(key, tick)
                count = view.count
                if count < rule.budget.min_samples:
                    track.no_data(silent=count == 0)
                else:
                    value = _measure(rule, view, count)
                    track.measured(value, climb((value, value, value), rule.bounds, track.level))
                tracks.changed(key, track)

        def emit(key: tuple[int, str], track: Track, previous: State) -> None:
            budget = self._budgets[key[0]]
            actual = track.actual
            out.append(
                Transition(
                    kind="budget",
                    operation=key[1],
                    state=track.alert_state,
                    previous=previous,
                    budget=budget,
                    budget_text=budget.text,
                    actual=actual,
                    threshold=budget.threshold,
                    unit=budget.unit,
                    ratio=None if actual is None else actual / budget.threshold,
                    window_s=self.window_s,
                    at_ns=now_ns,
                )
            )

        tracks.settle(tick, now_ns, self._interval_ns, emit)

    def sweep(self, tick: int, now_ns: int) -> None:
        """Forget quiet tracks of operations that left the window."""
        self._tracks.sweep(tick, now_ns, self._interval_ns)

    def statuses(self, tick: int) -> dict[int, list[BudgetStatus]]:
        """Return the status of each (budget, operation) seen at ``tick``, by budget index."""
        statuses: dict[int, list[BudgetStatus]] = {}
        for (index, name), track in sorted(self._tracks.current(tick), key=_by_key):
            entry = status(self._budgets[index], name, track, self.window_s)
            statuses.setdefault(index, []).append(entry)
        return statuses


def status(budget: Budget, operation: str, track: Track, window_s: float) -> BudgetStatus:
    """Build the ``BudgetStatus`` of one budget and operation from its track."""
    actual = track.actual
    return BudgetStatus(
        budget=budget,
        operation=operation,
        state=track.state,
        actual=actual,
        unit=budget.unit,
        ratio=None if actual is None else actual / budget.threshold,
        burn_rate=None,
        window_s=window_s,
    )


def _measure(rule: _Rule, view: OperationView, count: int) -> float:
    if rule.quantile is not None:
        return float(view.quantile(rule.quantile))
    statistic = rule.budget.statistic
    if statistic == "avg":
        return float(view.mean_ms)
    if statistic == "max":
        return float(view.max_ms)
    return view.errors / count


def _by_key(item: tuple[tuple[int, str], Track]) -> tuple[int, str]:
    return item[0]

"""``BudgetEvaluator``: budgets, SLO burn rates and regressions, judged on aggregated windows.

Pure and single-threaded: the adapter that owns it calls it from the aggregator thread, holds
any lock, passes the time in (``now_ns``, monotonic) and forwards the returned transitions to the
alert dispatcher. Nothing here reads a clock, starts a thread or does I/O.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from otelperf._errors import ConfigError
from otelperf.budgets._group import BudgetGroup, status
from otelperf.budgets._regression import RegressionDetector
from otelperf.budgets._slo import SloJudge
from otelperf.budgets._tracks import Track
from otelperf.budgets._view import OperationView
from otelperf.budgets._windows import window_problem
from otelperf.budgets.budget import DEFAULT_MIN_SAMPLES, Budget
from otelperf.budgets.events import BudgetStatus, BurnRate, Transition

__all__ = ["BudgetEvaluator", "OperationView"]

_SWEEP_EVERY = 64  # ticks between sweeps of tracks for operations that left the window


def _positive(
    name: str,
    value: object,
    *,
    minimum: float = 0.0,
    maximum: float = math.inf,
    integer: bool = False,
) -> float:
    """Check a constructor argument: a number in (minimum, maximum], whole if ``integer``."""
    expected = "a whole number" if integer else "a number"
    kinds = int if integer else (int, float)
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not isinstance(value, kinds)
    ):
        raise ConfigError(f"BudgetEvaluator({name}={value!r}): expected {expected}")
    number = float(value)
    if not (minimum < number <= maximum and number < math.inf):
        bound = f" and at most {maximum:g}" if maximum < math.inf else ""
        raise ConfigError(
            f"BudgetEvaluator({name}={value!r}): expected {expected} above {minimum:g}{bound}"
        )
    return number


class BudgetEvaluator:
    """Judge budgets on each aggregator tick and say which states changed.

    Per (budget, operation) the state follows DESIGN §5: ``warning``/``error``/``critical`` by the
    budget's ratios, back to ``ok`` only at or below 0.9 x the bound (hysteresis), and
    ``insufficient_data`` under ``min`` samples (the alert state is held until the operation has
    no traffic left in the window, which resolves it). Each change becomes one ``Transition``,
    at most one per (budget, operation) per ``alert_interval_s``; held-back changes are sent
    later if they still stand. Not thread-safe: the adapter serialises calls.
    """

    def __init__(
        self,
        budgets: Iterable[Budget],
        *,
        live_window_s: float = 60.0,
        sub_windows: int = 6,
        alert_interval_s: float = 60.0,
        regression_factor: float | None = 2.0,
        regression_min_samples: int = DEFAULT_MIN_SAMPLES,
        regression_warmup_windows: int = 12,
        regression_alpha: float = 0.1,
        max_operations: int = 10_000,
    ) -> None:
        """Prepare the budgets once, so each tick only looks up cached matches.

        Args:
            budgets: The budgets (duplicates are ignored).
            live_window_s: Length of the window passed to ``evaluate``; budgets without
                ``over`` (or with ``over`` equal to it) are judged on it.
            sub_windows: Sub-windows per live window; a budget's ``over`` must be at least
                one sub-window (see ``otelperf.budgets._windows`` for every limit).
            alert_interval_s: Minimum time between two events of one (budget, operation).
            regression_factor: An operation with no budget regresses when its window p95
                exceeds this x its baseline (> 1); None turns regression detection off.
            regression_min_samples: Requests needed in a window to judge or learn a p95.
            regression_warmup_windows: Closed sub-windows learned before judging regressions.
            regression_alpha: EWMA weight of each new sub-window p95 in the baseline.
            max_operations: Bound on cached matches and baselines (oldest are dropped).

        Raises:
            ConfigError: A budget is not a ``Budget``, asks for an ``over`` window that cannot
                be judged (shorter than a sub-window, longer than 6 h, more than 4 lengths),
                or an argument is out of range.
        """
        self._budgets = tuple(dict.fromkeys(budgets))
        for budget in self._budgets:
            if not isinstance(budget, Budget):
                raise ConfigError(f"BudgetEvaluator(budgets=[{budget!r}]): expected Budget objects")
        self._live_window_s = _positive("live_window_s", live_window_s)
        subs = int(_positive("sub_windows", sub_windows, integer=True))
        problem = window_problem(self._budgets, live_window_s=self._live_window_s, sub_windows=subs)
        if problem is not None:
            budget, expected = problem
            raise ConfigError(f"BudgetEvaluator(budgets=[{budget.text!r}]): expected {expected}")
        self._interval_ns = int(_positive("alert_interval_s", alert_interval_s) * 1e9)
        self._max_operations = int(_positive("max_operations", max_operations, integer=True))
        self._regressions: RegressionDetector | None = None
        if regression_factor is not None:
            self._regressions = RegressionDetector(
                factor=_positive("regression_factor", regression_factor, minimum=1.0),
                min_samples=int(
                    _positive("regression_min_samples", regression_min_samples, integer=True)
                ),
                warmup_windows=int(
                    _positive("regression_warmup_windows", regression_warmup_windows, integer=True)
                ),
                alpha=_positive("regression_alpha", regression_alpha, maximum=1.0),
                max_operations=self._max_operations,
                window_s=self._live_window_s,
                interval_ns=self._interval_ns,
            )
        by_window: dict[float, dict[int, Budget]] = {self._live_window_s: {}}
        for index, budget in enumerate(self._budgets):
            if not budget.is_slo:
                window_s = budget.window_s or self._live_window_s
                by_window.setdefault(window_s, {})[index] = budget
        self._groups = [
            BudgetGroup(
                window_s,
                budgets,
                interval_ns=self._interval_ns,
                max_operations=self._max_operations,
            )
            for window_s, budgets in by_window.items()
        ]
        self._slos = SloJudge(
            self._budgets, interval_ns=self._interval_ns, max_operations=self._max_operations
        )
        self._covered: dict[str, bool] = {}
        self._tick = 0

    @property
    def budgets(self) -> tuple[Budget, ...]:
        """The budgets, in the order given."""
        return self._budgets

    @property
    def required_windows_s(self) -> tuple[float, ...]:
        """Window lengths other than the live one that ``evaluate(windows_by_s=...)`` needs."""
        return tuple(sorted(group.window_s for group in self._groups[1:]))

    @property
    def budgets_by_window_s(self) -> Mapping[float, tuple[Budget, ...]]:
        """The budgets judged on each window of ``required_windows_s``."""
        return {group.window_s: group.budgets for group in self._groups[1:]}

    def evaluate(
        self,
        now_ns: int,
        window: Mapping[str, OperationView],
        *,
        windows_by_s: Mapping[float, Mapping[str, OperationView]] | None = None,
    ) -> list[Transition]:
        """Judge the latency and error-rate budgets and the regressions; return what changed.

        Cost: O(operations + matching (budget, operation) pairs); matches are cached per
        operation name, so an operation's kind and attributes are read once.

        Args:
            now_ns: Monotonic time of this tick.
            window: The live window: operation key -> view.
            windows_by_s: Views over the longer windows in ``required_windows_s``. A budget whose
                window is missing here is ``insufficient_data``.

        Returns:
            The transitions of this tick, for the alert dispatcher.
        """
        self._tick += 1
        out: list[Transition] = []
        self._groups[0].judge(self._tick, now_ns, window, out)
        for group in self._groups[1:]:
            views = (windows_by_s or {}).get(group.window_s, {})
            group.judge(self._tick, now_ns, views, out)
        if self._regressions is not None:
            self._regressions.judge(self._tick, now_ns, window, out)
        if self._tick % _SWEEP_EVERY == 0:
            for group in self._groups:
                group.sweep(self._tick, now_ns)
            if self._regressions is not None:
                self._regressions.sweep(self._tick, now_ns)
        return out

    def observe(self, now_ns: int, closed: Mapping[str, OperationView]) -> list[Transition]:
        """Feed one closed sub-window (about 10 s) to the SLOs and the regression baselines.

        Call it for every sub-window the aggregator closes, also when it is empty: SLO burn
        rates are computed over the last 5 m, 30 m, 1 h and 6 h of these (kept in fixed memory).

        Args:
            now_ns: Monotonic time at which the sub-window closed.
            closed: The closed sub-window: operation key -> view.

        Returns:
            The SLO transitions (rate-limited like budget transitions).
        """
        out: list[Transition] = []
        self._slos.observe(now_ns, closed, out)
        if self._regressions is not None:
            self._regressions.learn(closed, self._is_covered)
        return out

    def report(self) -> list[BudgetStatus]:
        """Return the status of every budget after the last ``evaluate``/``observe``.

        One entry per (budget, operation) seen in the last evaluated window, in budget order
        then by operation; a budget that matched nothing gets one ``insufficient_data`` entry
        named after its selector, so a mistyped selector shows up; an SLO gets one entry.
        """
        statuses: dict[int, list[BudgetStatus]] = {}
        for group in self._groups:
            statuses |= group.statuses(self._tick)
        statuses |= {index: [slo] for index, slo in self._slos.statuses().items()}
        report = []
        for index, budget in enumerate(self._budgets):
            window_s = budget.window_s or self._live_window_s
            report.extend(
                statuses.get(index) or [status(budget, budget.selector, Track(), window_s)]
            )
        return report

    def burn_rates(self) -> list[BurnRate]:
        """Return every SLO's burn rate over each of its windows (5m, 1h, 30m, 6h).

        In budget order, then window order; a window with fewer than the budget's ``min``
        requests is left out (too few to say anything).
        """
        rates = self._slos.burn_rates()
        return [rate for index in sorted(rates) for rate in rates[index]]

    def _is_covered(self, name: str, view: OperationView) -> bool:
        covered = self._covered.get(name)
        if covered is None:
            if len(self._covered) >= self._max_operations:
                self._covered.clear()  # bounded like the match caches; re-matching is cheap
            kind, attributes = view.kind, view.attributes
            covered = any(budget.matches(name, kind, attributes) for budget in self._budgets)
            self._covered[name] = covered
        return covered

"""SLO budgets judged on multi-window burn rates (Google SRE workbook, "Alerting on SLOs").

An SLO budget (``POST /orders 99%<400ms over 30d``) counts, over every operation its selector
picks, the requests slower than its threshold ("bad"). Burn rate = bad fraction /
(1 - objective). ``critical`` (page) when both the 5 m and 1 h windows burn at >= 14.4;
``warning`` (ticket) when both the 30 m and 6 h windows burn above 6. A pair is judged only when
its short window holds ``min`` requests. Right after start a long window holds what there is,
so a fast burn is caught as soon as the short window has enough data.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from otelperf.budgets._burn import FAST, SLOT_NS, SLOW, BurnHistory, BurnPair
from otelperf.budgets._tracks import Track, Tracks, climb
from otelperf.budgets._view import OperationView
from otelperf.budgets.budget import Budget
from otelperf.budgets.events import BudgetStatus, BurnRate, State, Transition

__all__ = ["SloJudge"]

_WINDOWS_S = (FAST.short_s, FAST.long_s, SLOW.short_s, SLOW.long_s)
_BOUNDS = (SLOW.burn_rate, math.inf, FAST.burn_rate)  # warning, (no error level), critical


class _Slo:
    __slots__ = ("allowed", "budget", "history", "matches", "verdicts")

    def __init__(self, budget: Budget) -> None:
        self.budget = budget
        self.allowed = 1 - (budget.objective or 0.0)  # the error budget, as a bad fraction
        self.history = BurnHistory(_WINDOWS_S)
        self.matches: dict[str, bool] = {}
        # Per pair, the burn rate it was last judged on and the window that burn covers.
        self.verdicts: dict[BurnPair, tuple[float, float]] = {FAST: (0.0, 0.0), SLOW: (0.0, 0.0)}

    def burn(self, window_s: int) -> tuple[float, int]:
        """Return ``(burn rate, requests)`` over the last ``window_s``."""
        total, bad = self.history.counts(_WINDOWS_S.index(window_s))
        return (bad / total / self.allowed if total else 0.0), total

    def judge_pair(self, pair: BurnPair) -> bool:
        """Store the pair's burn (the lower of its two windows); False if too few requests."""
        short_burn, short_count = self.burn(pair.short_s)
        if short_count < self.budget.min_samples:
            self.verdicts[pair] = (0.0, float(pair.short_s))
            return False
        long_burn, _ = self.burn(pair.long_s)
        self.verdicts[pair] = min(
            (long_burn, float(pair.long_s)), (short_burn, float(pair.short_s))
        )
        return True


class SloJudge:
    """Keeps each SLO's bounded request history and its alert state."""

    __slots__ = ("_interval_ns", "_max_operations", "_slos", "_tick", "_tracks")

    def __init__(self, budgets: tuple[Budget, ...], *, interval_ns: int, max_operations: int):
        """Track the SLO budgets among ``budgets`` (keyed by their index there)."""
        self._slos = {index: _Slo(b) for index, b in enumerate(budgets) if b.is_slo}
        self._tracks: Tracks[int] = Tracks()
        self._interval_ns = interval_ns
        self._max_operations = max_operations
        self._tick = 0

    def observe(
        self, now_ns: int, closed: Mapping[str, OperationView], out: list[Transition]
    ) -> None:
        """Count one closed sub-window into every SLO, judge them, append transitions to out."""
        self._tick += 1
        slot = now_ns // SLOT_NS
        for index, slo in self._slos.items():
            budget, total, bad = slo.budget, 0, 0
            for name, view in closed.items():
                selected = slo.matches.get(name)
                if selected is None:
                    if len(slo.matches) >= self._max_operations:
                        slo.matches.clear()
                    selected = budget.matches(name, view.kind, view.attributes)
                    slo.matches[name] = selected
                if selected:
                    total += view.count
                    bad += view.count_over(budget.threshold)
            slo.history.add(slot, total, bad)
            self._judge(index, slo)

        def emit(index: int, track: Track, previous: State) -> None:
            slo = self._slos[index]
            # The pair behind the new severity; for a resolve, the pair that had fired.
            state = previous if track.level == 0 else track.alert_state
            pair = FAST if state == "critical" else SLOW
            burn, window_s = slo.verdicts[pair]
            out.append(
                Transition(
                    kind="slo",
                    operation=slo.budget.selector,
                    state=track.alert_state,
                    previous=previous,
                    budget=slo.budget,
                    budget_text=slo.budget.text,
                    actual=burn * slo.allowed,
                    threshold=slo.allowed,
                    unit="fraction",
                    ratio=burn,
                    burn_rate=burn,
                    window_s=window_s,
                    at_ns=now_ns,
                )
            )

        self._tracks.settle(self._tick, now_ns, self._interval_ns, emit)

    def _judge(self, index: int, slo: _Slo) -> None:
        track = self._tracks.get(index, self._tick)
        slow_judged, fast_judged = slo.judge_pair(SLOW), slo.judge_pair(FAST)
        if slow_judged or fast_judged:
            values = (slo.verdicts[SLOW][0], 0.0, slo.verdicts[FAST][0])
            level = climb(values, _BOUNDS, track.level)
            track.measured(slo.burn(FAST.long_s)[0] * slo.allowed, level)
        else:
            # Too few requests to judge: hold the alert state; none in six hours resolves it.
            track.no_data(silent=slo.burn(SLOW.long_s)[1] == 0)
        self._tracks.changed(index, track)

    def statuses(self) -> dict[int, BudgetStatus]:
        """Return the current status of each SLO (one-hour figures), keyed by budget index."""
        statuses = {}
        for index, slo in self._slos.items():
            track = self._tracks.tracks.get(index)
            known = track is not None and track.actual is not None
            burn, _ = slo.burn(FAST.long_s)
            statuses[index] = BudgetStatus(
                budget=slo.budget,
                operation=slo.budget.selector,
                state="insufficient_data" if track is None else track.state,
                actual=track.actual if track is not None else None,
                unit="fraction",
                ratio=burn if known else None,
                burn_rate=burn if known else None,
                window_s=float(FAST.long_s),
            )
        return statuses

    def burn_rates(self) -> dict[int, list[BurnRate]]:
        """Return, per SLO budget index, its burn rate over each window holding ``min`` requests.

        Windows come in the order 5m, 1h, 30m, 6h (the fast pair, then the slow pair).
        """
        rates: dict[int, list[BurnRate]] = {}
        for index, slo in self._slos.items():
            for window_s in _WINDOWS_S:
                burn, requests = slo.burn(window_s)
                if requests >= slo.budget.min_samples:
                    rates.setdefault(index, []).append(
                        BurnRate(
                            budget=slo.budget,
                            operation=slo.budget.selector,
                            window_s=float(window_s),
                            burn_rate=burn,
                            requests=requests,
                        )
                    )
        return rates

"""Which ``over`` windows budgets may use, and the SLO burn rate of every alerting window."""

from __future__ import annotations

import pytest

from otelperf._errors import ConfigError
from otelperf.budgets import (
    MAX_BUDGET_WINDOW_S,
    MAX_WINDOW_LENGTHS,
    Budget,
    BudgetEvaluator,
    BurnRate,
    window_problem,
)
from tests.budgets.fakes import SECOND_NS, FakeView, window

S = SECOND_NS


def _budgets(*texts: str) -> list[Budget]:
    return [Budget.parse(text) for text in texts]


class TestWindowProblem:
    @pytest.mark.parametrize(
        "texts",
        [
            ("GET /a p95<100ms",),
            ("GET /a p95<100ms over 1m",),  # the live window itself
            ("GET /a p95<100ms over 10s",),  # one sub-window
            ("GET /a p95<100ms over 30s", "GET /b p99<1s over 5m"),
            ("GET /a p95<100ms over 6h",),
            ("GET /a 99%<100ms over 30d",),  # SLO periods are not limited
            tuple(f"GET /{m} p95<100ms over {m}m" for m in (2, 3, 4, 5)),
            ("a p95<1ms over 5m", "b p99<1ms over 5m", "c max<1s over 5m", "d avg<1ms over 5m"),
        ],
    )
    def test_judgeable_windows_pass(self, texts: tuple[str, ...]) -> None:
        """Windows from one sub-window to 6 h, in at most 4 lengths, are accepted."""
        assert window_problem(_budgets(*texts), live_window_s=60) is None

    @pytest.mark.parametrize(
        ("texts", "culprit", "expected"),
        [
            (
                ("GET /a p95<100ms over 5s",),
                0,
                "an 'over' of at least one sub-window (10s = window_s / 6), or no 'over' to "
                "use the live window (1m)",
            ),
            (
                ("GET /a p95<100ms over 5m", "GET /b p95<100ms over 7h"),
                1,
                "an 'over' of at most 6h (for a longer period use an SLO, e.g. '99%<250ms over "
                "30d', or the exported histograms)",
            ),
            (
                tuple(f"GET /{m} p95<100ms over {m}m" for m in (2, 3, 4, 5, 6)),
                4,
                "at most 4 distinct 'over' windows besides window_s, got 5 (2m, 3m, 4m, 5m, 6m)",
            ),
        ],
    )
    def test_unjudgeable_windows_name_the_budget_and_the_limit(
        self, texts: tuple[str, ...], culprit: int, expected: str
    ) -> None:
        """Too short, too long or too many windows: the first offending budget and why."""
        budgets = _budgets(*texts)
        assert window_problem(budgets, live_window_s=60) == (budgets[culprit], expected)

    def test_the_limits_are_the_documented_ones(self) -> None:
        """6 h and 4 lengths, as docs/budgets.md states."""
        assert (MAX_BUDGET_WINDOW_S, MAX_WINDOW_LENGTHS) == (21600.0, 4)

    def test_evaluator_refuses_with_a_config_error(self) -> None:
        """BudgetEvaluator raises ConfigError naming the budget text and the expectation."""
        with pytest.raises(ConfigError) as caught:
            BudgetEvaluator(_budgets("GET /a p95<100ms over 7h"))
        assert str(caught.value).startswith(
            "BudgetEvaluator(budgets=['GET /a p95<100ms over 7h']): expected an 'over' of at most"
        )

    def test_evaluator_checks_against_its_own_sub_windows(self) -> None:
        """With window_s 6 (1 s sub-windows) a 5 s window is fine; with 60 s it is not."""
        BudgetEvaluator(_budgets("a p95<1ms over 5s"), live_window_s=6)
        with pytest.raises(ConfigError, match="at least one sub-window"):
            BudgetEvaluator(_budgets("a p95<1ms over 5s"), live_window_s=60)

    def test_budgets_by_window_lists_each_extra_length(self) -> None:
        """The monitor learns which budgets need which window (SLOs and live ones excluded)."""
        budgets = _budgets("a p95<1ms over 5m", "b p99<1ms", "c max<1s over 5m", "d 99%<1ms")
        evaluator = BudgetEvaluator([*budgets, Budget.parse("e p50<1ms over 1h")])
        assert evaluator.budgets_by_window_s == {
            300.0: (budgets[0], budgets[2]),
            3600.0: (Budget.parse("e p50<1ms over 1h"),),
        }


def _sub_window(bad: int, total: int = 100) -> dict[str, FakeView]:
    return window(FakeView("checkout", (100.0,) * (total - bad) + (400.0,) * bad))


class TestBurnRates:
    def test_every_window_with_enough_requests_has_a_rate(self) -> None:
        """After 6 minutes, 5m/1h/30m/6h each report bad fraction / (1 - objective)."""
        evaluator = BudgetEvaluator(_budgets("checkout 99%<300ms over 30d"))
        for index in range(36):  # 6 minutes of 10-second sub-windows, 2 % bad from minute 1
            evaluator.observe(index * 10 * S, _sub_window(bad=2 if index >= 6 else 0))
        rates = {rate.window_s: rate for rate in evaluator.burn_rates()}
        assert list(rates) == [300.0, 3600.0, 1800.0, 21600.0]
        assert rates[300.0].burn_rate == pytest.approx(2.0)  # 30 sub-windows all at 2 %
        assert rates[300.0].requests == 3000
        assert rates[3600.0].burn_rate == pytest.approx(2.0 * 30 / 36)
        assert rates[3600.0] == BurnRate(
            budget=Budget.parse("checkout 99%<300ms over 30d"),
            operation="checkout",
            window_s=3600.0,
            burn_rate=rates[3600.0].burn_rate,
            requests=3600,
        )

    def test_windows_under_min_requests_are_left_out(self) -> None:
        """Ten requests against min 20: no burn rate is reported at all."""
        evaluator = BudgetEvaluator(_budgets("checkout 99%<300ms over 30d"))
        evaluator.observe(0, _sub_window(bad=1, total=10))
        assert evaluator.burn_rates() == []

    def test_no_slo_no_rates(self) -> None:
        """Latency budgets have no burn rate."""
        evaluator = BudgetEvaluator(_budgets("checkout p95<300ms"))
        evaluator.observe(0, _sub_window(bad=50))
        assert evaluator.burn_rates() == []

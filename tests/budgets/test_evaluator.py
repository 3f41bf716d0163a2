"""``BudgetEvaluator`` under a fake clock: states, hysteresis, rate limits, SLOs, regressions."""

from __future__ import annotations

import pytest

from otelperf._errors import ConfigError
from otelperf.budgets import Budget, BudgetEvaluator, BudgetStatus, Transition
from tests.budgets.fakes import SECOND_NS, FakeView, steady, window

S = SECOND_NS


def _evaluator(*budgets: str, **options: object) -> BudgetEvaluator:
    return BudgetEvaluator([Budget.parse(b) for b in budgets], **options)  # type: ignore[arg-type]


def _run(
    evaluator: BudgetEvaluator, values_ms: list[float], *, step_s: float = 1, name: str = "GET /a"
) -> list[Transition]:
    """Evaluate one window per value (50 requests at that latency), ``step_s`` apart."""
    events: list[Transition] = []
    for tick, value in enumerate(values_ms):
        events += evaluator.evaluate(int(tick * step_s * S), window(steady(name, value)))
    return events


class TestBudgetStates:
    def test_a_breach_starts_with_one_warning(self) -> None:
        """A p95 over its threshold produces one warning transition with the alert's facts."""
        evaluator = _evaluator("GET /a p95<100ms")
        assert evaluator.evaluate(7 * S, window(steady("GET /a", 120))) == [
            Transition(
                kind="budget",
                operation="GET /a",
                state="warning",
                previous="ok",
                budget=Budget.parse("GET /a p95<100ms"),
                budget_text="GET /a p95<100ms",
                actual=120.0,
                threshold=100.0,
                unit="ms",
                ratio=1.2,
                window_s=60.0,
                at_ns=7 * S,
            )
        ]

    def test_escalates_warning_error_critical(self) -> None:
        """Rising values step through warning (>1x), error (>=1.5x) and critical (>=2x)."""
        events = _run(_evaluator("GET /a p95<100ms", alert_interval_s=1), [120, 150, 200])
        assert [(e.previous, e.state) for e in events] == [
            ("ok", "warning"),
            ("warning", "error"),
            ("error", "critical"),
        ]
        assert [e.ratio for e in events] == [1.2, 1.5, 2.0]

    def test_flapping_around_the_threshold_alerts_once(self) -> None:
        """Values alternating 105/95 ms around 100 ms give exactly one alert (hysteresis)."""
        events = _run(_evaluator("GET /a p95<100ms", alert_interval_s=1), [105, 95] * 30)
        assert [e.state for e in events] == ["warning"]

    def test_flapping_around_the_critical_bound_stays_critical(self) -> None:
        """Values alternating 205/195 ms around 2x stay critical after the first alert."""
        events = _run(_evaluator("GET /a p95<100ms", alert_interval_s=1), [205, 195] * 30)
        assert [e.state for e in events] == ["critical"]

    def test_resolves_once_at_ninety_percent(self) -> None:
        """Back to ok needs <= 0.9x threshold: 91 ms holds, 90 ms resolves, once."""
        events = _run(_evaluator("GET /a p95<100ms", alert_interval_s=1), [120, 91, 90, 50, 50])
        assert [(e.previous, e.state, e.actual) for e in events] == [
            ("ok", "warning", 120.0),
            ("warning", "ok", 90.0),
        ]
        assert events[1].resolved and not events[0].resolved

    def test_falling_from_critical_uses_hysteresis_per_level(self) -> None:
        """From critical, 185 ms (above 0.9x2x) holds, 175 ms falls to error."""
        events = _run(_evaluator("GET /a p95<100ms", alert_interval_s=1), [210, 185, 175])
        assert [e.state for e in events] == ["critical", "error"]

    def test_a_healthy_operation_sends_nothing(self) -> None:
        """Values under the threshold never produce a transition."""
        assert _run(_evaluator("GET /a p95<100ms"), [50] * 20) == []

    def test_per_budget_ratios(self) -> None:
        """Ratios come from the budget: warning 0.8x fires at 90 ms on a 100 ms budget."""
        evaluator = _evaluator("GET /a p95<100ms warning 0.8x error 1.2x critical 3x")
        assert [e.state for e in _run(evaluator, [90])] == ["warning"]

    @pytest.mark.parametrize(
        ("budget", "view", "state", "actual"),
        [
            ("GET /a error_rate<1%", steady("GET /a", 10, 100, errors=3), "critical", 0.03),
            ("GET /a error_rate<2%", steady("GET /a", 10, 100, errors=3), "error", 0.03),
            ("GET /a avg<100ms", FakeView("GET /a", (50.0,) * 19 + (2000.0,)), "warning", 147.5),
            ("GET /a max<100ms", FakeView("GET /a", (50.0,) * 19 + (150.0,)), "error", 150.0),
            ("GET /a p50<100ms", FakeView("GET /a", (50.0,) * 10 + (300.0,) * 10), "ok", 50.0),
            ("GET /a p999<100ms", FakeView("GET /a", (50.0,) * 999 + (300.0,)), "ok", 50.0),
        ],
    )
    def test_statistics(self, budget: str, view: FakeView, state: str, actual: float) -> None:
        """Each statistic reads the matching figure of the window."""
        evaluator = _evaluator(budget)
        evaluator.evaluate(0, window(view))
        [status] = evaluator.report()
        assert (status.state, status.actual) == (state, actual)

    def test_one_state_per_matching_operation(self) -> None:
        """A kind=server budget tracks each server operation separately."""
        evaluator = _evaluator("kind=server p95<100ms")
        views = window(
            steady("GET /a", 150),
            steady("GET /b", 250),
            steady("GET /c", 50),
            steady("db", 999, kind="client"),
        )
        events = evaluator.evaluate(0, views)
        assert sorted((e.operation, e.state) for e in events) == [
            ("GET /a", "error"),
            ("GET /b", "critical"),
        ]

    def test_attribute_selector(self) -> None:
        """An attr. selector picks operations by their key attributes."""
        evaluator = _evaluator("attr.tenant=acme p95<100ms")
        views = window(
            steady("GET /a", 150, attributes={"tenant": "acme"}),
            steady("GET /b", 150, attributes={"tenant": "other"}),
        )
        assert [e.operation for e in evaluator.evaluate(0, views)] == ["GET /a"]


class TestInsufficientData:
    def test_below_min_samples_is_insufficient_data(self) -> None:
        """19 slow requests under the default min of 20 raise nothing."""
        evaluator = _evaluator("GET /a p95<100ms")
        assert evaluator.evaluate(0, window(steady("GET /a", 500, 19))) == []
        [status] = evaluator.report()
        assert (status.state, status.actual, status.ratio) == ("insufficient_data", None, None)

    def test_min_from_the_budget(self) -> None:
        """``min 5`` judges a window of 5 requests."""
        evaluator = _evaluator("GET /a p95<100ms min 5")
        assert [e.state for e in evaluator.evaluate(0, window(steady("GET /a", 500, 5)))] == [
            "critical"
        ]

    def test_thin_traffic_holds_an_open_alert(self) -> None:
        """A breach stays announced while samples are too few: no resolve, no re-alert."""
        evaluator = _evaluator("GET /a p95<100ms", alert_interval_s=1)
        assert len(evaluator.evaluate(0, window(steady("GET /a", 150)))) == 1
        assert evaluator.evaluate(5 * S, window(steady("GET /a", 150, 3))) == []
        assert evaluator.report()[0].state == "insufficient_data"
        assert evaluator.evaluate(9 * S, window(steady("GET /a", 150))) == []

    def test_no_traffic_left_resolves_the_alert(self) -> None:
        """When the operation leaves the window, its alert resolves as insufficient_data."""
        evaluator = _evaluator("GET /a p95<100ms", alert_interval_s=1)
        evaluator.evaluate(0, window(steady("GET /a", 150)))
        [event] = evaluator.evaluate(2 * S, window(steady("GET /other", 10)))
        assert (event.previous, event.state, event.actual, event.resolved) == (
            "error",
            "insufficient_data",
            None,
            True,
        )
        assert evaluator.evaluate(3 * S, {}) == []

    @pytest.mark.parametrize(
        ("budget", "actual_ms"), [("GET /a p95<1ms", 10.0), ("GET /a error_rate<1%", None)]
    )
    def test_status_actual_ms_only_for_durations(
        self, budget: str, actual_ms: float | None
    ) -> None:
        """``actual_ms`` is the duration for latency budgets and None for error rates."""
        evaluator = _evaluator(budget)
        evaluator.evaluate(0, window(steady("GET /a", 10)))
        assert evaluator.report()[0].actual_ms == actual_ms

    def test_budget_that_matches_nothing_reports_its_selector(self) -> None:
        """A budget with no matching operation shows up as insufficient_data."""
        evaluator = _evaluator("GET /typo p95<100ms")
        evaluator.evaluate(0, window(steady("GET /a", 10)))
        assert evaluator.report() == [
            BudgetStatus(
                budget=Budget.parse("GET /typo p95<100ms"),
                operation="GET /typo",
                state="insufficient_data",
                actual=None,
                unit="ms",
                ratio=None,
                burn_rate=None,
                window_s=60.0,
            )
        ]


class TestRateLimit:
    def test_changes_inside_the_interval_are_coalesced(self) -> None:
        """warning at 0 s; critical at 1 s is held; sent at 60 s as one event."""
        evaluator = _evaluator("GET /a p95<100ms", alert_interval_s=60)
        assert [e.state for e in evaluator.evaluate(0, window(steady("GET /a", 120)))] == [
            "warning"
        ]
        for second in (1, 30, 59):
            assert evaluator.evaluate(second * S, window(steady("GET /a", 250))) == []
        [event] = evaluator.evaluate(60 * S, window(steady("GET /a", 250)))
        assert (event.previous, event.state) == ("warning", "critical")

    def test_a_blip_inside_the_interval_sends_nothing_more(self) -> None:
        """A breach that eases and returns within the interval is one alert in all."""
        evaluator = _evaluator("GET /a p95<100ms", alert_interval_s=60)
        events = _run(evaluator, [120, 50, 120, 120], step_s=20)
        assert [e.state for e in events] == ["warning"]

    def test_resolve_waits_for_the_interval(self) -> None:
        """A resolve inside the interval is sent once the interval has passed."""
        evaluator = _evaluator("GET /a p95<100ms", alert_interval_s=60)
        events = _run(evaluator, [120, 50, 50, 50], step_s=30)
        assert [(e.state, e.at_ns) for e in events] == [("warning", 0), ("ok", 60 * S)]

    def test_each_budget_and_operation_has_its_own_limit(self) -> None:
        """Two operations breaching together both alert at once."""
        evaluator = _evaluator("kind=server p95<100ms", alert_interval_s=60)
        events = evaluator.evaluate(0, window(steady("GET /a", 150), steady("GET /b", 150)))
        assert len(events) == 2

    def test_an_operation_coming_back_respects_the_interval(self) -> None:
        """Leaving and returning within the interval does not bypass the rate limit."""
        evaluator = _evaluator("GET /a p95<100ms", alert_interval_s=60)
        evaluator.evaluate(0, window(steady("GET /a", 150)))
        # Absent from 1 s: resolved at 60 s; the 64th evaluation (63 s) sweeps gone operations.
        batches = [evaluator.evaluate(second * S, {}) for second in range(1, 64)]
        assert [(e.state, e.at_ns) for batch in batches for e in batch] == [
            ("insufficient_data", 60 * S)
        ]
        assert evaluator.evaluate(70 * S, window(steady("GET /a", 150))) == []
        assert len(evaluator.evaluate(120 * S, window(steady("GET /a", 150)))) == 1


class TestLongerWindows:
    def test_required_windows_lists_the_extra_lengths(self) -> None:
        """Budgets over the live window's length need no extra window."""
        evaluator = _evaluator("a p95<1ms over 5m", "b p95<1ms over 1m", "c 99%<1ms over 30d")
        assert evaluator.required_windows_s == (300.0,)

    def test_budget_is_judged_on_its_own_window(self) -> None:
        """``over 5m`` reads windows_by_s[300], not the live window."""
        evaluator = _evaluator("GET /a p95<100ms over 5m")
        assert evaluator.evaluate(0, window(steady("GET /a", 500))) == []
        [event] = evaluator.evaluate(
            S, window(steady("GET /a", 500)), windows_by_s={300.0: window(steady("GET /a", 150))}
        )
        assert (event.state, event.actual, event.window_s) == ("error", 150.0, 300.0)

    def test_missing_window_is_insufficient_data(self) -> None:
        """Without its window the budget reports insufficient_data over that window."""
        evaluator = _evaluator("GET /a p95<100ms over 5m")
        evaluator.evaluate(0, window(steady("GET /a", 500)))
        [status] = evaluator.report()
        assert (status.state, status.window_s) == ("insufficient_data", 300.0)


SLO = "checkout 99.9%<300ms over 30d"


def _sub_window(bad: int, total: int = 100, name: str = "checkout") -> dict[str, FakeView]:
    """One closed 10-second sub-window: ``bad`` requests over 300 ms out of ``total``."""
    return window(FakeView(name, (100.0,) * (total - bad) + (400.0,) * bad))


def _observe(
    evaluator: BudgetEvaluator, start_s: int, bad_counts: list[int]
) -> list[tuple[int, Transition]]:
    """Feed one sub-window every 10 s from ``start_s``; return (second, transition) pairs."""
    events = []
    for index, bad in enumerate(bad_counts):
        now_s = start_s + 10 * index
        events += [(now_s, event) for event in evaluator.observe(now_s * S, _sub_window(bad))]
    return events


class TestSlo:
    def test_fast_burn_pages_within_the_short_window(self) -> None:
        """After an hour of good traffic, a full outage is critical within 5 minutes."""
        evaluator = _evaluator(SLO, alert_interval_s=1)
        assert _observe(evaluator, 0, [0] * 360) == []
        events = _observe(evaluator, 3600, [100] * 30)
        second, page = next((s, e) for s, e in events if e.state == "critical")
        # 1 h window: k bad slots of 360 burn at k/360/0.001; >= 14.4 from k = 6, i.e. 50 s in.
        assert second - 3600 == 50
        assert (page.kind, page.operation, page.window_s) == ("slo", "checkout", 3600.0)
        assert page.burn_rate == pytest.approx(6 / 360 / 0.001)
        assert page.threshold == pytest.approx(0.001)

    def test_slow_burn_tickets_without_paging(self) -> None:
        """A steady 1 % bad rate (burn 10) warns via the 30 m/6 h pair and never pages."""
        evaluator = _evaluator(SLO, alert_interval_s=1)
        _observe(evaluator, 0, [0] * 360)
        events = _observe(evaluator, 3600, [1] * 800)
        assert [e.state for _, e in events] == ["warning"]
        assert events[0][1].window_s == 21600.0
        assert events[0][1].burn_rate == pytest.approx(6, abs=0.1)

    def test_outage_then_recovery_steps_down_to_ok(self) -> None:
        """Critical clears when the 5 m window is clean; warning when the 30 m one is."""
        evaluator = _evaluator(SLO, alert_interval_s=1)
        _observe(evaluator, 0, [0] * 360)
        events = _observe(evaluator, 3600, [100] * 10 + [0] * 400)
        assert [(e.previous, e.state) for _, e in events] == [
            ("ok", "warning"),
            ("warning", "critical"),
            ("critical", "warning"),
            ("warning", "ok"),
        ]

    def test_below_min_samples_is_insufficient_data(self) -> None:
        """An SLO with too few requests in both short windows cannot alert."""
        evaluator = _evaluator(SLO)
        for second in (0, 10, 20):
            assert evaluator.observe(second * S, _sub_window(5, total=5)) == []
        assert evaluator.report()[0].state == "insufficient_data"

    def test_counts_every_selected_operation_together(self) -> None:
        """An SLO sums all operations its selector picks; its report covers the last hour."""
        evaluator = _evaluator("GET * 99%<300ms over 30d")
        closed = window(steady("GET /a", 100, 50), steady("GET /b", 400, 50), steady("POST", 400))
        evaluator.observe(0, closed)
        [status] = evaluator.report()
        assert (status.operation, status.actual) == ("GET *", 0.5)
        assert status.burn_rate == pytest.approx(50.0)
        assert (status.state, status.window_s) == ("critical", 3600.0)


def _learn(evaluator: BudgetEvaluator, p95_values: list[float], name: str = "GET /x") -> None:
    """Close one sub-window per value, with 50 requests at that latency."""
    for index, value in enumerate(p95_values):
        evaluator.observe(index * 10 * S, window(steady(name, value)))


class TestRegression:
    def test_three_times_slower_is_detected_without_a_budget(self) -> None:
        """p95 at 3x its baseline (factor 2) raises a regression at 1.5x the limit."""
        evaluator = _evaluator(regression_factor=2.0)
        _learn(evaluator, [100.0] * 12)
        [event] = evaluator.evaluate(200 * S, window(steady("GET /x", 300)))
        assert (event.kind, event.operation, event.state, event.budget) == (
            "regression",
            "GET /x",
            "error",
            None,
        )
        assert (event.baseline_ms, event.threshold, event.actual, event.ratio) == (
            100.0,
            200.0,
            300.0,
            1.5,
        )
        assert event.budget_text == "p95<2x baseline"

    def test_not_judged_during_warm_up(self) -> None:
        """Eleven learned sub-windows are not enough with the default warm-up of 12."""
        evaluator = _evaluator()
        _learn(evaluator, [100.0] * 11)
        assert evaluator.evaluate(200 * S, window(steady("GET /x", 300))) == []

    def test_operations_with_a_budget_are_left_to_it(self) -> None:
        """An operation some budget covers has no regression alerts."""
        evaluator = _evaluator("GET /x p99<10s")
        _learn(evaluator, [100.0] * 12)
        assert evaluator.evaluate(200 * S, window(steady("GET /x", 300))) == []

    def test_too_few_samples_are_not_judged(self) -> None:
        """A live window under regression_min_samples raises nothing."""
        evaluator = _evaluator()
        _learn(evaluator, [100.0] * 12)
        assert evaluator.evaluate(200 * S, window(steady("GET /x", 300, 10))) == []

    def test_sparse_sub_windows_do_not_teach_the_baseline(self) -> None:
        """Sub-windows under min samples are not learned, so warm-up is not reached."""
        evaluator = _evaluator()
        for index in range(20):
            evaluator.observe(index * 10 * S, window(steady("GET /x", 100, 5)))
        assert evaluator.evaluate(200 * S, window(steady("GET /x", 300))) == []

    def test_baseline_is_an_ewma(self) -> None:
        """After 12 x 100 ms and one 200 ms sub-window the baseline is 110 ms (alpha 0.1)."""
        evaluator = _evaluator()
        _learn(evaluator, [100.0] * 12 + [200.0])
        [event] = evaluator.evaluate(200 * S, window(steady("GET /x", 330)))
        assert event.baseline_ms == pytest.approx(110.0)

    def test_baseline_freezes_while_regressed(self) -> None:
        """Slow sub-windows during a regression do not raise the baseline; recovery resolves."""
        evaluator = _evaluator(alert_interval_s=1)
        _learn(evaluator, [100.0] * 12)
        assert len(evaluator.evaluate(200 * S, window(steady("GET /x", 300)))) == 1
        _learn(evaluator, [300.0] * 30)
        assert evaluator.evaluate(400 * S, window(steady("GET /x", 300))) == []
        [event] = evaluator.evaluate(401 * S, window(steady("GET /x", 150)))
        assert (event.state, event.baseline_ms) == ("ok", 100.0)

    def test_can_be_turned_off(self) -> None:
        """regression_factor=None disables regression detection."""
        evaluator = _evaluator(regression_factor=None)
        _learn(evaluator, [100.0] * 12)
        assert evaluator.evaluate(200 * S, window(steady("GET /x", 1000))) == []


class TestConstruction:
    @pytest.mark.parametrize(
        ("options", "expected"),
        [
            ({"live_window_s": 0}, "a number above 0"),
            ({"alert_interval_s": "60"}, "a number"),
            ({"regression_factor": 1.0}, "a number above 1"),
            ({"regression_alpha": 1.5}, "a number above 0 and at most 1"),
            ({"regression_min_samples": 2.5}, "a whole number"),
            ({"regression_warmup_windows": True}, "a whole number"),
            ({"max_operations": 0}, "a whole number above 0"),
        ],
    )
    def test_bad_arguments_raise_config_error(
        self, options: dict[str, object], expected: str
    ) -> None:
        """Out-of-range arguments are rejected with the argument and value named."""
        [(name, value)] = options.items()
        with pytest.raises(ConfigError) as caught:
            _evaluator(**options)
        assert str(caught.value) == f"BudgetEvaluator({name}={value!r}): expected {expected}"

    def test_budgets_must_be_budget_objects(self) -> None:
        """Strings must go through coerce_budgets first."""
        with pytest.raises(ConfigError, match=r"expected Budget objects"):
            BudgetEvaluator(["GET /x p99<1ms"])  # type: ignore[list-item]

    def test_duplicate_budgets_are_judged_once(self) -> None:
        """The same budget given twice alerts once."""
        evaluator = _evaluator("GET /a p95<100ms", "GET /a  p95<100ms")
        assert len(evaluator.evaluate(0, window(steady("GET /a", 150)))) == 1
        assert evaluator.budgets == (Budget.parse("GET /a p95<100ms"),)


class TestMemoryBounds:
    """White-box: bounded memory is a contract (DESIGN §2), so these read private state."""

    def test_operations_that_left_the_window_are_forgotten(self) -> None:
        """Quiet per-operation states are swept once their operation is gone."""
        evaluator = _evaluator("kind=server p95<100ms", regression_factor=None)
        for tick in range(200):
            evaluator.evaluate(tick * S, window(steady(f"GET /{tick}", 10)))
        assert len(evaluator._groups[0]._tracks.tracks) < 70

    def test_match_caches_are_bounded(self) -> None:
        """Cached matches (budgets, SLOs, coverage) never exceed max_operations."""
        evaluator = _evaluator("kind=server p95<100ms", "GET * 99%<1s", max_operations=10)
        for tick in range(100):
            views = window(steady(f"GET /{tick}", 10))
            evaluator.evaluate(tick * S, views)
            evaluator.observe(tick * S, views)
            assert len(evaluator._groups[0]._matches) <= 10
            assert len(evaluator._covered) <= 10
            assert all(len(slo.matches) <= 10 for slo in evaluator._slos._slos.values())

    def test_baselines_are_bounded_least_recent_first(self) -> None:
        """Past max_operations, the least recently learned baseline is dropped."""
        evaluator = _evaluator(max_operations=3, regression_warmup_windows=1)
        for index, name in enumerate(["a", "b", "c", "a", "d"]):
            evaluator.observe(index * 10 * S, window(steady(name, 100)))
        slow = window(*(steady(name, 300) for name in "abcd"))
        assert sorted(e.operation for e in evaluator.evaluate(100 * S, slow)) == ["a", "c", "d"]

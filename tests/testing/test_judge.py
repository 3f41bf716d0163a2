"""The pure budget judge of otelperf.testing: statistics, verdicts and messages."""

from __future__ import annotations

import random

import numpy as np
import pytest

from otelperf.aggregates import ExpSketch
from otelperf.budgets import Budget
from otelperf.testing import SpanSample
from otelperf.testing._judge import judge, quantile


def spans(name: str, durations: list[float], **fields: object) -> list[SpanSample]:
    return [SpanSample(name=name, duration_ms=d, **fields) for d in durations]  # type: ignore[arg-type]


def ramp(n: int, low: float, high: float) -> list[float]:
    return [low + (high - low) * i / (n - 1) for i in range(n)]


class TestQuantile:
    @pytest.mark.parametrize("q", [0.0, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1.0])
    def test_matches_numpy_linear_rule(self, q: float) -> None:
        """Percentiles are numpy's default (linear between the two nearest samples)."""
        values = sorted(random.Random(7).lognormvariate(3, 1) for _ in range(137))
        assert quantile(values, q) == pytest.approx(float(np.quantile(values, q)), rel=1e-12)

    def test_agrees_with_the_production_sketch_within_its_bound(self) -> None:
        """Exact values and otelperf's ExpSketch differ at most by the sketch's relative error."""
        values = sorted(random.Random(3).lognormvariate(2, 1.5) for _ in range(2000))
        sketch = ExpSketch()
        sketch.add_many(values)
        for q in (0.5, 0.9, 0.95, 0.99):
            exact = quantile(values, q)
            assert abs(sketch.quantile(q) - exact) <= sketch.relative_error * exact * 1.0001

    def test_rejects_empty_input(self) -> None:
        """A quantile of nothing is an error, not NaN."""
        with pytest.raises(ValueError, match="need values"):
            quantile([], 0.5)


class TestVerdicts:
    def test_fast_operation_passes(self) -> None:
        """All spans under the threshold: passed, with the exact p95 as the value."""
        check = judge(Budget.parse("GET /users p95<200ms"), spans("GET /users", ramp(40, 10, 50)))
        assert check.passed
        assert check.operations[0].actual == pytest.approx(quantile(ramp(40, 10, 50), 0.95))
        assert check.message.startswith("GET /users p95<200ms passed: p95 = ")

    def test_slow_operation_fails_with_percentiles_count_and_ratio(self) -> None:
        """The headline gives the statistic, the span count, p50/p99/max and the ratio."""
        durations = ramp(40, 100, 500)
        check = judge(Budget.parse("GET /users p95<200ms"), spans("GET /users", durations))
        p95 = quantile(durations, 0.95)
        assert check.outcome == "failed"
        assert check.message.splitlines()[0] == (
            f"GET /users p95<200ms failed: p95 = {p95:.1f} ms over 40 spans (p50 300.0, "
            f"p99 {quantile(durations, 0.99):.1f}, max 500.0 ms): {p95 / 200:.2f}x the "
            "threshold (critical)"
        )

    @pytest.mark.parametrize(
        ("p95_ms", "state"),
        [(200.0, "ok"), (201.0, "warning"), (300.0, "error"), (400.0, "critical")],
    )
    def test_severity_follows_the_budget_ratios(self, p95_ms: float, state: str) -> None:
        """Equal to the threshold passes; over it is warning, >= 1.5x error, >= 2x critical."""
        check = judge(Budget.parse("op p95<200ms"), spans("op", [p95_ms] * 20))
        assert check.operations[0].state == state
        assert check.passed is (state == "ok")

    def test_custom_warning_ratio_moves_the_failure_point(self) -> None:
        """With 'warning 1.2x' a value 10 % over the threshold still passes."""
        check = judge(Budget.parse("op p95<200ms warning 1.2x"), spans("op", [220.0] * 20))
        assert check.passed

    @pytest.mark.parametrize(
        ("text", "actual"),
        [("op avg<10ms", 5.5), ("op max<10ms", 10.0), ("op p50<10ms", 5.5)],
    )
    def test_avg_max_and_median(self, text: str, actual: float) -> None:
        """avg, max and p50 are computed exactly."""
        check = judge(Budget.parse(text), spans("op", [float(i) for i in range(1, 11)] * 2))
        assert check.operations[0].actual == pytest.approx(actual)

    def test_error_rate_counts_error_status(self) -> None:
        """error_rate is the share of spans with an ERROR status."""
        samples = spans("q", [1.0] * 18) + spans("q", [1.0] * 2, error=True)
        check = judge(Budget.parse("q error_rate<5%"), samples)
        assert check.outcome == "failed"
        assert "error_rate = 10% (2 of 20 spans had an ERROR status): 2.00x" in check.message


class TestSelectors:
    def test_each_operation_is_judged_separately(self) -> None:
        """A glob judges every matching operation; one broken operation fails the budget."""
        samples = spans("db.select", [80.0] * 20) + spans("db.insert", [5.0] * 20)
        check = judge(Budget.parse("db.* p95<50ms"), samples)
        assert [(row.operation, row.state) for row in check.operations] == [
            ("db.select", "error"),
            ("db.insert", "ok"),
        ]
        assert "1 of 2 judged operations over budget" in check.message
        assert "p95 = 80.0 ms over 20 spans of 'db.select'" in check.message

    def test_kind_selector(self) -> None:
        """kind=client picks client spans only."""
        samples = spans("GET /a", [500.0] * 20, kind="server") + spans(
            "GET", [1.0] * 20, kind="client"
        )
        check = judge(Budget.parse("kind=client p95<10ms"), samples)
        assert check.passed
        assert [row.operation for row in check.operations] == ["GET"]

    def test_attribute_selector_compares_text(self) -> None:
        """attr.KEY=glob matches the attribute's text value."""
        samples = spans("GET", [1.0] * 20, attributes={"http.route": "/users/{id}"})
        samples += spans("GET", [900.0] * 20, attributes={"http.route": "/admin"})
        assert judge(Budget.parse("attr.http.route=/users/* max<10ms"), samples).passed
        assert not judge(Budget.parse("attr.http.route=/admin max<10ms"), samples).passed


class TestNotEnoughData:
    def test_no_match_lists_operations_and_a_near_miss(self) -> None:
        """A selector that matches nothing says what was seen and suggests a close name."""
        samples = spans("GET /users", [1.0] * 3, kind="server") + spans(
            "SELECT", [1.0], kind="client"
        )
        check = judge(Budget.parse("GET /user p95<5ms"), samples)
        assert check.outcome == "no_match"
        assert check.message == (
            "GET /user p95<5ms: no span matched the selector 'GET /user' (span name, "
            "case-sensitive) among the 4 spans that ended; did you mean 'GET /users'?\n"
            "  operations seen: 'GET /users' (server, 3), 'SELECT' (client, 1)"
        )

    def test_no_span_at_all_shows_the_hint(self) -> None:
        """Without any span the message carries the caller's hint."""
        check = judge(Budget.parse("x p95<5ms"), [], hint="; is the code instrumented?")
        assert (
            check.message == "x p95<5ms: no span ended while recording; is the code instrumented?"
        )

    def test_too_few_spans_fail_and_suggest_a_lower_min(self) -> None:
        """Fewer spans than min: insufficient_data, with the budget text that would judge them."""
        check = judge(Budget.parse("op p95<5ms"), spans("op", [1.0] * 7))
        assert check.outcome == "insufficient_data"
        assert not check.passed
        assert "'op' has 7; the budget needs min 20 per operation" in check.message
        assert "judge fewer with 'op p95<5ms min 7'" in check.message

    def test_a_rare_operation_does_not_fail_a_glob_that_judged_others(self) -> None:
        """Operations under min are listed as not judged when another one was judged."""
        samples = spans("db.a", [1.0] * 20) + spans("db.b", [900.0] * 3)
        check = judge(Budget.parse("db.* p95<5ms"), samples)
        assert check.passed
        assert "not judged: 3 < min 20" in check.message


class TestSlo:
    def test_slo_pools_operations_and_compares_compliance(self) -> None:
        """An SLO counts the share of all matching spans at or under the threshold."""
        samples = spans("a", [100.0] * 95) + spans("b", [500.0] * 5)
        assert judge(Budget.parse("* 95%<400ms"), samples).passed
        check = judge(Budget.parse("* 99%<400ms over 30d"), samples)
        assert check.outcome == "failed"
        assert check.compliance == pytest.approx(0.95)
        assert check.message.splitlines()[0] == (
            "* 99%<400ms over 30d failed: 95% of 100 spans took <= 400ms (objective 99%); "
            "5 were slower: 5.00x the error budget"
        )

    def test_slo_needs_min_spans_in_total(self) -> None:
        """An SLO under its min is insufficient_data."""
        check = judge(Budget.parse("a 99%<400ms min 50"), spans("a", [1.0] * 49))
        assert check.outcome == "insufficient_data"
        assert "49 spans matched, the budget needs min 50" in check.message


@pytest.mark.parametrize("module", ["_judge", "_message", "_results"])
def test_judge_core_is_pure(module: str) -> None:
    """The judge, its results and messages import no opentelemetry (pure core, STYLE §1)."""
    import ast
    from pathlib import Path

    import otelperf.testing

    path = Path(otelperf.testing.__file__).parent / f"{module}.py"
    tree = ast.parse(path.read_text())
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not {name for name in imported if name.startswith("opentelemetry")}
    assert not {name for name in imported if name.startswith("otelperf.testing.")} - {
        "otelperf.testing._message",
        "otelperf.testing._results",
    }

"""``Budget``: field checks, selectors, and the derived properties."""

from __future__ import annotations

import dataclasses

import pytest

from otelperf._errors import ConfigError
from otelperf.budgets import Budget

SELECTOR = "an operation name, kind=KIND or attr.KEY=VALUE without surrounding spaces"
ONE_BUDGET = "one budget (';' and line breaks separate budgets)"
KINDS = "a span kind (server, client, internal, producer, consumer)"
NO_STATISTIC_INSIDE = "a selector without a statistic and '<' inside it"
POSITIVE = "a finite number above 0"
SAMPLES = "a whole number of samples of at least 1"
RATIO_ORDER = "warning_ratio <= error_ratio <= critical_ratio"
OBJECTIVE_IFF_SLO = "an objective exactly when statistic is 'slo'"


def _budget(**changes: object) -> Budget:
    fields: dict[str, object] = {"selector": "GET /x", "statistic": "p99", "threshold": 250.0}
    return Budget(**(fields | changes))  # type: ignore[arg-type]


class TestBudgetFields:
    @pytest.mark.parametrize(
        ("changes", "shown", "expected"),
        [
            ({"selector": ""}, "selector=''", SELECTOR),
            ({"selector": " x"}, "selector=' x'", SELECTOR),
            ({"selector": "a;b"}, "selector='a;b'", ONE_BUDGET),
            ({"selector": "kind=web"}, "selector='kind=web'", KINDS),
            ({"selector": "GET p99<1ms"}, "selector='GET p99<1ms'", NO_STATISTIC_INSIDE),
            ({"selector": 3}, "selector=3", "a string"),
            ({"statistic": "p42"}, "statistic='p42'", "a statistic"),
            ({"threshold": 0}, "threshold=0", POSITIVE),
            ({"threshold": float("inf")}, "threshold=inf", POSITIVE),
            ({"threshold": float("nan")}, "threshold=nan", POSITIVE),
            ({"threshold": True}, "threshold=True", "a number"),
            ({"threshold": "250"}, "threshold='250'", "a number"),
            (
                {"statistic": "error_rate", "threshold": 2.0},
                "threshold=2.0",
                "an error rate as a fraction at most 1",
            ),
            ({"window_s": -1.0}, "window_s=-1.0", POSITIVE),
            ({"min_samples": 0}, "min_samples=0", SAMPLES),
            ({"min_samples": 2.5}, "min_samples=2.5", SAMPLES),
            ({"min_samples": True}, "min_samples=True", SAMPLES),
            ({"warning_ratio": 2.0}, "error_ratio=1.5", RATIO_ORDER),
            ({"critical_ratio": 1.2}, "error_ratio=1.5", RATIO_ORDER),
            ({"impact": "a\nb"}, "impact='a\\nb'", "text without ';' or line breaks"),
            ({"owner": None}, "owner=None", "a string"),
            ({"objective": 0.99}, "objective=0.99", OBJECTIVE_IFF_SLO),
            ({"statistic": "slo"}, "objective=None", OBJECTIVE_IFF_SLO),
            (
                {"statistic": "slo", "objective": 1.0},
                "objective=1.0",
                "a fraction above 0 and below 1",
            ),
            (
                {"statistic": "slo", "objective": 0.99, "error_ratio": 1.8},
                "warning_ratio=1.0",
                "default ratios on an SLO (burn rates set its severity)",
            ),
        ],
    )
    def test_invalid_fields_raise_config_error(
        self, changes: dict[str, object], shown: str, expected: str
    ) -> None:
        """Each invalid field raises a ConfigError naming field, value and expectation."""
        with pytest.raises(ConfigError) as caught:
            _budget(**changes)
        assert str(caught.value) == f"Budget({shown}): expected {expected}"

    def test_numbers_are_normalised_to_float(self) -> None:
        """Integer thresholds, windows and ratios are stored as floats."""
        budget = _budget(threshold=250, window_s=300, critical_ratio=3)
        assert (budget.threshold, budget.window_s, budget.critical_ratio) == (250.0, 300.0, 3.0)
        assert all(
            type(value) is float
            for value in (budget.threshold, budget.window_s, budget.critical_ratio)
        )

    def test_budgets_are_frozen_and_hashable(self) -> None:
        """Budgets are immutable values usable as dict keys."""
        budget = _budget()
        with pytest.raises(dataclasses.FrozenInstanceError):
            budget.threshold = 1.0  # type: ignore[misc]
        assert {budget: 1}[_budget()] == 1

    def test_replace_recompiles_the_selector(self) -> None:
        """dataclasses.replace gives a budget that matches by its new selector."""
        budget = dataclasses.replace(_budget(), selector="POST /y")
        assert budget.matches("POST /y", "server", {})
        assert not budget.matches("GET /x", "server", {})

    @pytest.mark.parametrize(
        ("statistic", "objective", "unit", "is_slo"),
        [
            ("p99", None, "ms", False),
            ("error_rate", None, "fraction", False),
            ("slo", 0.99, "ms", True),
        ],
    )
    def test_unit_and_is_slo(
        self, statistic: str, objective: float | None, unit: str, is_slo: bool
    ) -> None:
        """``unit`` is the unit of threshold; ``is_slo`` is set by an objective."""
        threshold = 0.01 if statistic == "error_rate" else 100.0
        budget = _budget(statistic=statistic, objective=objective, threshold=threshold)
        assert (budget.unit, budget.is_slo) == (unit, is_slo)

    def test_str_is_the_canonical_text(self) -> None:
        """``str(budget)`` is ``budget.text``."""
        assert str(Budget.parse("GET /x p99 < 0.25s")) == "GET /x p99<250ms"


class TestSelectors:
    @pytest.mark.parametrize(
        ("selector", "operation", "kind", "attributes", "expected"),
        [
            ("GET /users", "GET /users", "server", {}, True),
            ("GET /users", "GET /users/1", "server", {}, False),
            ("GET /users/*", "GET /users/{id}", "server", {}, True),
            ("db.*", "db.query", "client", {}, True),
            ("db.*", "DB.query", "client", {}, False),
            ("GET /items/?", "GET /items/7", "server", {}, True),
            ("GET /[ab]", "GET /b", "server", {}, True),
            ("kind=server", "anything", "SERVER", {}, True),
            ("kind=server", "anything", "server", {}, True),
            ("kind=server", "anything", "client", {}, False),
            ("attr.http.route=/api/*", "x", "server", {"http.route": "/api/users"}, True),
            ("attr.http.route=/api/*", "x", "server", {"http.route": "/web"}, False),
            ("attr.http.route=/api/*", "x", "server", {}, False),
            ("attr.tenant=acme", "x", "server", {"tenant": "acme"}, True),
        ],
    )
    def test_matches(
        self,
        selector: str,
        operation: str,
        kind: str,
        attributes: dict[str, str],
        expected: bool,
    ) -> None:
        """Globs match names case-sensitively; kind ignores case; attr globs the value."""
        budget = _budget(selector=selector)
        assert budget.matches(operation, kind, attributes) is expected

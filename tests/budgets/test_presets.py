"""Presets: their documented numbers, and ``budget_preset`` overrides."""

from __future__ import annotations

import pytest

from otelperf._errors import ConfigError
from otelperf.budgets import (
    BACKGROUND_BUDGETS,
    BUDGET_PRESETS,
    INTERACTIVE_BUDGETS,
    RELAXED_BUDGETS,
    RENDERING_BUDGETS,
    STRICT_BUDGETS,
    Budget,
    budget_preset,
)

KINDS = "a span kind (server, client, internal, producer, consumer)"
OVERRIDES = (
    "selector", "min_samples", "impact", "owner", "window_s", "warning_ratio", "error_ratio",
    "critical_ratio", "p50_ms", "p75_ms", "p90_ms", "p95_ms", "p99_ms", "p999_ms", "avg_ms",
    "max_ms", "error_rate", "slo_ms", "scale", "objective",
)  # fmt: skip


def _heads(budgets: tuple[Budget, ...]) -> list[str]:
    """Each budget's text without its impact (the part the numbers are in)."""
    return [b.text.split(" impact ")[0] for b in budgets]


class TestPresets:
    @pytest.mark.parametrize(
        ("preset", "heads"),
        [
            (INTERACTIVE_BUDGETS, ["kind=server p75<200ms", "kind=server p99<1s min 100",
                                   "kind=server error_rate<1% min 200 error 2x critical 5x"]),
            (RENDERING_BUDGETS, ["*render* p75<50ms", "*render* p99<800ms min 100"]),
            (BACKGROUND_BUDGETS, ["kind=consumer p95<10s", "kind=consumer p99<60s min 100",
                                  "kind=consumer error_rate<5% min 100 error 2x critical 4x",
                                  "kind=producer p99<100ms min 100"]),
            (STRICT_BUDGETS, ["kind=server p50<50ms", "kind=server p99<200ms min 100",
                              "kind=server error_rate<0.1% min 2000 error 2x critical 5x",
                              "kind=server 99.9%<200ms over 30d", "kind=client p99<100ms min 100"]),
            (RELAXED_BUDGETS, ["kind=server p95<1s", "kind=server p99<2.5s min 100",
                               "kind=server error_rate<5% min 100 error 2x critical 4x",
                               "kind=server 99%<2.5s over 30d"]),
        ],
    )  # fmt: skip
    def test_documented_numbers(self, preset: tuple[Budget, ...], heads: list[str]) -> None:
        """Each preset holds exactly the budgets its docstring documents."""
        assert _heads(preset) == heads

    @pytest.mark.parametrize("name", sorted(BUDGET_PRESETS))
    def test_every_budget_round_trips_and_says_its_impact(self, name: str) -> None:
        """Preset budgets parse back from their text and carry an impact for alerts."""
        for budget in BUDGET_PRESETS[name]:
            assert Budget.parse(budget.text) == budget
            assert budget.impact

    def test_preset_names(self) -> None:
        """The names accepted in budget strings are the five presets."""
        assert sorted(BUDGET_PRESETS) == [
            "background",
            "interactive",
            "relaxed",
            "rendering",
            "strict",
        ]


class TestBudgetPreset:
    def test_no_overrides_returns_the_base(self) -> None:
        """Without overrides the preset comes back unchanged."""
        assert budget_preset(INTERACTIVE_BUDGETS) == INTERACTIVE_BUDGETS

    def test_statistic_threshold_override(self) -> None:
        """``p99_ms`` changes only the p99 budgets' thresholds."""
        derived = budget_preset(INTERACTIVE_BUDGETS, p99_ms=500)
        assert [b.threshold for b in derived] == [200.0, 500.0, 0.01]

    def test_scale_multiplies_latency_thresholds_not_explicit_ones(self) -> None:
        """``scale`` loosens latency thresholds; explicit ones and error rates stay."""
        derived = budget_preset(STRICT_BUDGETS, scale=2, p50_ms=60)
        assert [b.threshold for b in derived] == [60.0, 400.0, 0.001, 400.0, 200.0]

    def test_field_overrides_apply_to_every_budget(self) -> None:
        """selector, min_samples, impact and owner replace the field everywhere."""
        derived = budget_preset(
            RELAXED_BUDGETS, selector="GET /api/*", owner="team-api", min_samples=500
        )
        assert {(b.selector, b.owner, b.min_samples) for b in derived} == {
            ("GET /api/*", "team-api", 500)
        }

    def test_ratio_and_window_overrides_skip_slos(self) -> None:
        """window_s and ratios change non-SLO budgets; an SLO keeps its period and ratios."""
        derived = budget_preset(RELAXED_BUDGETS, window_s=300, critical_ratio=3)
        assert [b.window_s for b in derived] == [300.0, 300.0, 300.0, 30 * 86400.0]
        assert [b.critical_ratio for b in derived] == [3.0, 3.0, 3.0, 2.0]

    def test_error_rate_and_objective_overrides(self) -> None:
        """``error_rate`` and ``objective`` set those fractions."""
        derived = budget_preset(RELAXED_BUDGETS, error_rate=0.02, objective=0.995, slo_ms=2000)
        assert derived[2].threshold == 0.02
        assert (derived[3].objective, derived[3].threshold) == (0.995, 2000.0)

    def test_accepts_parsed_budgets(self) -> None:
        """Any budgets can be the base, not only presets."""
        base = (Budget.parse("GET /x p95<100ms"),)
        assert budget_preset(base, p95_ms=80) == (Budget.parse("GET /x p95<80ms"),)

    @pytest.mark.parametrize(
        ("overrides", "expected"),
        [
            ({"p98_ms": 1}, f"an override among {', '.join(OVERRIDES)}"),
            ({"p50_ms": 100}, "a statistic the budgets have (p75_ms, p99_ms, error_rate)"),
            ({"objective": 0.9}, "a statistic the budgets have (p75_ms, p99_ms, error_rate)"),
            ({"p99_ms": -1}, "a finite number above 0"),
            ({"scale": "2"}, "a number"),
            ({"error_rate": 5}, "a fraction at most 1"),
            ({"min_samples": 0}, "a whole number of samples of at least 1"),
            ({"selector": "kind=web"}, KINDS),
        ],
    )
    def test_bad_overrides_raise_config_error(
        self, overrides: dict[str, object], expected: str
    ) -> None:
        """Unknown keys, bad values and thresholds for absent statistics are rejected."""
        [(key, value)] = overrides.items()
        with pytest.raises(ConfigError) as caught:
            budget_preset(INTERACTIVE_BUDGETS, **overrides)
        assert str(caught.value) == f"budget_preset({key}={value!r}): expected {expected}"

    def test_objective_must_be_below_one(self) -> None:
        """An SLO objective of 1 (no error budget) is rejected."""
        with pytest.raises(
            ConfigError, match=r"^budget_preset\(objective=1\): expected a fraction below 1$"
        ):
            budget_preset(STRICT_BUDGETS, objective=1)

    def test_inconsistent_ratios_name_the_overrides_and_budget(self) -> None:
        """Overrides that break ratio order name all overrides and the budget."""
        with pytest.raises(ConfigError) as caught:
            budget_preset(RENDERING_BUDGETS, warning_ratio=3)
        assert str(caught.value) == (
            f"budget_preset(warning_ratio=3) on {RENDERING_BUDGETS[0].text!r}: "
            "Budget(error_ratio=1.5): expected warning_ratio <= error_ratio <= critical_ratio"
        )

    def test_base_must_hold_budgets(self) -> None:
        """A base that is not made of Budget objects is rejected."""
        with pytest.raises(ConfigError, match=r"^budget_preset\(base\): expected Budget objects"):
            budget_preset(["GET /x p99<1ms"])  # type: ignore[list-item]

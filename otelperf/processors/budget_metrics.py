"""The budget instruments: ``otelperf.budget.state``, ``.breaches`` and ``otelperf.slo.burn_rate``.

All three are observable: nothing is recorded per span or per tick, the SDK reads them at
collection time through the callbacks given to :func:`register_budget_metrics`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType

from opentelemetry.metrics import CallbackOptions, Meter, Observation

from otelperf.budgets import BudgetStatus, BurnRate, State

__all__ = [
    "BUDGET_BREACHES",
    "BUDGET_STATE",
    "SLO_BURN_RATE",
    "STATE_VALUES",
    "BreachKey",
    "register_budget_metrics",
    "window_label",
]

BUDGET_STATE = "otelperf.budget.state"
BUDGET_BREACHES = "otelperf.budget.breaches"
SLO_BURN_RATE = "otelperf.slo.burn_rate"

#: Gauge values of ``otelperf.budget.state`` (the Grafana dashboard maps them back to names).
STATE_VALUES: Mapping[State, int] = MappingProxyType(
    {"ok": 0, "warning": 1, "error": 2, "critical": 3, "insufficient_data": 4}
)

#: (budget text, operation, state announced): one series of ``otelperf.budget.breaches``.
BreachKey = tuple[str, str, str]


def register_budget_metrics(
    meter: Meter,
    *,
    statuses: Callable[[], list[BudgetStatus]],
    breaches: Callable[[], Mapping[BreachKey, int]],
    burn_rates: Callable[[], list[BurnRate]],
) -> None:
    """Create the three observable instruments on ``meter``.

    Args:
        meter: Where the instruments live.
        statuses: The current status of every (budget, operation).
        breaches: How many breach alerts each (budget, operation, state) has announced.
        burn_rates: Every SLO's burn rate over each of its windows (5m, 1h, 30m, 6h).
    """

    def observe_state(options: CallbackOptions) -> Iterable[Observation]:
        return [
            Observation(
                STATE_VALUES[status.state],
                {"budget": status.budget.text, "operation": status.operation},
            )
            for status in statuses()
        ]

    def observe_breaches(options: CallbackOptions) -> Iterable[Observation]:
        return [
            Observation(n, {"budget": budget, "operation": operation, "state": state})
            for (budget, operation, state), n in sorted(breaches().items())
        ]

    def observe_burn(options: CallbackOptions) -> Iterable[Observation]:
        return [
            Observation(
                rate.burn_rate,
                {
                    "budget": rate.budget.text,
                    "operation": rate.operation,
                    "window": window_label(rate.window_s),
                },
            )
            for rate in burn_rates()
        ]

    meter.create_observable_gauge(
        BUDGET_STATE,
        callbacks=[observe_state],
        unit="",
        description="Budget state per operation: 0 ok, 1 warning, 2 error, 3 critical, "
        "4 insufficient_data.",
    )
    meter.create_observable_counter(
        BUDGET_BREACHES,
        callbacks=[observe_breaches],
        unit="{breach}",
        description="Budget and SLO alerts announcing a breach (a change into warning, "
        "error or critical), by the state announced.",
    )
    meter.create_observable_gauge(
        SLO_BURN_RATE,
        callbacks=[observe_burn],
        unit="1",
        description="SLO error-budget burn rate per alerting window (window=5m, 1h, 30m, 6h; "
        "1 = spending the budget exactly over the SLO period); a window with fewer than the "
        "budget's min requests has no point.",
    )


def window_label(window_s: float) -> str:
    """The ``window`` attribute of a burn rate: ``300`` -> ``5m``, ``3600`` -> ``1h``."""
    for unit, size in (("h", 3600), ("m", 60)):
        if window_s >= size and window_s % size == 0:
            return f"{window_s / size:g}{unit}"
    return f"{window_s:g}s"

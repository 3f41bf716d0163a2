"""Budgets and slow spans on the aggregator thread: re-exports of their adapter modules.

:class:`BudgetMonitor` (``budget_monitor``) judges budgets, SLOs and regressions on every
aggregator tick and sends alerts; :class:`SlowSpanWatch` (``slow_spans``) calls the user's
``on_slow`` for slow spans. Their parts: ``budget_views`` (what the evaluator reads),
``budget_windows`` (``over`` windows), ``budget_examples`` (example traces), ``budget_alerts``
(``to_alert``) and ``budget_metrics`` (the instruments).
"""

from otelperf.processors.budget_alerts import to_alert
from otelperf.processors.budget_metrics import (
    BUDGET_BREACHES,
    BUDGET_STATE,
    SLO_BURN_RATE,
    STATE_VALUES,
)
from otelperf.processors.budget_monitor import BudgetMonitor
from otelperf.processors.slow_spans import OnSlow, SlowSpanWatch

__all__ = [
    "BUDGET_BREACHES",
    "BUDGET_STATE",
    "SLO_BURN_RATE",
    "STATE_VALUES",
    "BudgetMonitor",
    "OnSlow",
    "SlowSpanWatch",
    "to_alert",
]

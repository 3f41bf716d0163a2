"""Pure budgets core: ``Budget``, its string form, presets, and the ``BudgetEvaluator``.

No ``opentelemetry`` import, no threads, no environment, no I/O, no clock: time is passed in.
"""

from otelperf.budgets._windows import (
    MAX_BUDGET_WINDOW_S,
    MAX_WINDOW_LENGTHS,
    window_problem,
)
from otelperf.budgets.budget import Budget
from otelperf.budgets.evaluator import BudgetEvaluator, OperationView
from otelperf.budgets.events import BudgetStatus, BurnRate, State, Transition
from otelperf.budgets.parser import coerce_budgets, parse_budgets
from otelperf.budgets.presets import (
    BACKGROUND_BUDGETS,
    BUDGET_PRESETS,
    INTERACTIVE_BUDGETS,
    RELAXED_BUDGETS,
    RENDERING_BUDGETS,
    STRICT_BUDGETS,
    budget_preset,
)

__all__ = [
    "BACKGROUND_BUDGETS",
    "BUDGET_PRESETS",
    "INTERACTIVE_BUDGETS",
    "MAX_BUDGET_WINDOW_S",
    "MAX_WINDOW_LENGTHS",
    "RELAXED_BUDGETS",
    "RENDERING_BUDGETS",
    "STRICT_BUDGETS",
    "Budget",
    "BudgetEvaluator",
    "BudgetStatus",
    "BurnRate",
    "OperationView",
    "State",
    "Transition",
    "budget_preset",
    "coerce_budgets",
    "parse_budgets",
    "window_problem",
]

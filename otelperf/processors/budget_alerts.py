"""``to_alert``: one evaluator ``Transition`` described as an ``Alert`` (DESIGN §8 fields)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import MappingProxyType

from otelperf.alerts import Alert
from otelperf.budgets import Transition

__all__ = ["to_alert"]

_EMPTY: Mapping[str, object] = MappingProxyType({})


def to_alert(
    transition: Transition,
    *,
    service: str,
    resource: Mapping[str, object] = _EMPTY,
    trace_id: str | None = None,
) -> Alert:
    """Describe one evaluator transition as an ``Alert`` (kind, severity, values, window).

    A transition that resolves (back to ``ok``, or no traffic left) becomes severity
    ``resolved``; one without a measured value carries NaN and says why in ``detail``.

    Args:
        transition: What changed.
        service: ``service.name`` of this process.
        resource: Resource attributes copied into the alert.
        trace_id: 32 hex digits of an exported trace that shows the problem, if one is known.

    Raises:
        ValueError: The transition has a value no alert can carry.
    """
    severity = "resolved" if transition.resolved else transition.state
    actual = transition.actual if transition.actual is not None else math.nan
    details = []
    if transition.actual is None:
        details.append("no measurement: too little traffic left in the window")
    budget = transition.budget
    statistic: str | None = None
    if transition.kind == "slo" and budget is not None:
        statistic = f"share over {budget.threshold:g} ms"
        if transition.burn_rate is not None:
            details.append(f"burn rate {transition.burn_rate:.3g}")
    elif transition.kind == "regression":
        statistic = "p95"
        if transition.baseline_ms is not None:
            details.append(f"baseline p95 {transition.baseline_ms:.3g} ms")
    elif budget is not None:
        statistic = budget.statistic
    if budget is not None and budget.impact:
        details.append(f"impact: {budget.impact}")
    if budget is not None and budget.owner:
        details.append(f"owner: {budget.owner}")
    return Alert(
        kind=transition.kind,  # type: ignore[arg-type]  # Alert converts the value
        severity=severity,  # type: ignore[arg-type]
        service=service,
        operation=transition.operation,
        statistic=statistic,
        budget=transition.budget_text,
        actual=actual,
        threshold=transition.threshold,
        unit=transition.unit,  # type: ignore[arg-type]
        window_s=transition.window_s or 0.0,
        trace_id=trace_id,
        detail="; ".join(details) or None,
        resource=resource,
    )

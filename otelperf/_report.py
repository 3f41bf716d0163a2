"""``otelperf.budget_report()``: the current state of every budget."""

from __future__ import annotations

from otelperf import _configure
from otelperf.budgets import BudgetStatus

__all__ = ["budget_report"]


def budget_report() -> list[BudgetStatus]:
    """Return the status of every configured budget, as of the aggregator's last tick.

    One :class:`~otelperf.budgets.BudgetStatus` per (budget, operation) seen in the live window,
    in budget order then by operation: ``state`` (``ok``, ``warning``, ``error``, ``critical``
    or ``insufficient_data``), ``actual`` with its ``unit`` (``actual_ms`` for latencies),
    ``ratio`` to the threshold and, for SLOs, the one-hour ``burn_rate``. A budget that matched
    no operation gets one ``insufficient_data`` entry named after its selector, so a mistyped
    selector shows up; an SLO gets one entry for all the operations it selects.

    Empty before ``configure()``, with the SDK disabled, or without budgets. The store is
    judged every ~100 ms on otelperf's own thread; this call only copies the result, so it is
    cheap and safe from any thread.
    """
    handle = _configure.current()
    monitor = None if handle is None else handle.budgets
    return [] if monitor is None else monitor.report()

"""Budgets, SLOs, regressions and slow-span checks, wired to one aggregator."""

from __future__ import annotations

from collections.abc import Callable

from otelperf._settings import Settings
from otelperf._wiring import Context
from otelperf.budgets import BudgetEvaluator
from otelperf.processors.budgets import BudgetMonitor, SlowSpanWatch

__all__ = ["Judging"]


class Judging:
    """Judges budgets (and regressions) on the aggregator's ticks; watches slow spans.

    The constructor only checks; :meth:`start` installs the hooks.
    """

    def __init__(self, settings: Settings) -> None:
        """Check the budget settings now (raises ``ConfigError``), start nothing."""
        self._settings = settings
        self.monitor: BudgetMonitor | None = None
        self.judges_budgets = bool(settings.budgets) or settings.regression_factor is not None
        if self.judges_budgets:
            self._make_evaluator()  # raises ConfigError now rather than after install

    @property
    def wants_alerts(self) -> bool:
        """True when this part may raise alerts."""
        return self.judges_budgets

    def _make_evaluator(self) -> BudgetEvaluator:
        settings = self._settings
        return BudgetEvaluator(
            settings.budgets,
            live_window_s=settings.window_s,
            alert_interval_s=settings.alert_interval_s,
            regression_factor=settings.regression_factor,
            max_operations=settings.max_operations + 1,  # + otelperf.other
        )

    def start(self, context: Context) -> list[Callable[[], object]]:
        """Install the budget monitor and the slow-span watch; return their closers."""
        settings = self._settings
        closers: list[Callable[[], object]] = []
        if self.judges_budgets:
            self.monitor = BudgetMonitor(
                context.aggregator,
                self._make_evaluator,
                dispatcher=context.alerts,
                service=context.service,
                resource=context.resource_attributes,
            )
            self.monitor.register_metrics(context.meter)
            context.aggregator.add_tick_hook(self.monitor)
        if settings.slow_ms is not None or settings.very_slow_ms is not None:
            slow = SlowSpanWatch(
                slow_ms=settings.slow_ms,
                very_slow_ms=settings.very_slow_ms,
                on_slow=settings.on_slow,
                log_interval_s=settings.alert_interval_s,
            )
            context.aggregator.watch_slow(slow.threshold_ns, slow)
            closers.append(slow.shutdown)
        return closers

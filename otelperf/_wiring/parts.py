"""otelperf's optional parts, built together: what ``configure()`` starts beside the span pipeline.

:class:`Parts` holds the parts of :mod:`otelperf._wiring` (judging, leaks, tail) and the alert
dispatcher they share. Its constructor only checks the settings (a ``ConfigError`` must leave
nothing half-installed); :meth:`Parts.start` starts them once the providers exist and collects
what to close at shutdown, in order.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource

from otelperf._settings import Settings
from otelperf._wiring import Context, SpanProcessorHost
from otelperf._wiring.judging import Judging
from otelperf._wiring.leaks import Leaks
from otelperf._wiring.tail import Tail
from otelperf.alerts import AlertDispatcher
from otelperf.processors.aggregator import Aggregator

__all__ = ["ALERTS_SHUTDOWN_TIMEOUT_S", "Parts"]

# Share of the shutdown a hanging alert sink may take: the final metric export comes after it.
ALERTS_SHUTDOWN_TIMEOUT_S = 2.0


class Parts:
    """otelperf's optional parts (:mod:`otelperf._wiring`) and the alert dispatcher they share.

    The constructor only checks (a ``ConfigError`` must leave nothing half-installed);
    :meth:`start` starts them once the providers exist.

    Attributes:
        judging: Budgets, SLOs, regressions and slow spans.
        leaks: The memory monitor and the span-leak processor.
        tail: Tail sampling in front of otelperf's span exporters.
        dispatcher: The alert dispatcher, once started (None when nothing can alert).
        early_closers: What to close before the span pipeline (leak detection's threads).
        closers: What to close after the span pipeline, alerts last.
    """

    def __init__(self, settings: Settings) -> None:
        """Check the settings of every part (raises ``ConfigError``); start nothing."""
        self._settings = settings
        self.judging = Judging(settings)
        self.leaks = Leaks(settings)
        self.tail = Tail(settings)
        self.dispatcher: AlertDispatcher | None = None
        self.early_closers: list[Callable[[], object]] = []
        self.closers: list[Callable[[], object]] = []

    def start(
        self,
        tracer_provider: SpanProcessorHost,
        resource: Resource,
        aggregator: Aggregator,
        meter_provider: MeterProvider,
    ) -> None:
        """Start every part on the providers; fill :attr:`early_closers` and :attr:`closers`."""
        parts = (self.judging, self.leaks, self.tail)
        if self._settings.alerts and any(part.wants_alerts for part in parts):
            self.dispatcher = AlertDispatcher(self._settings.alerts)
        context = Context(
            settings=self._settings,
            resource=resource,
            tracer_provider=tracer_provider,
            aggregator=aggregator,
            meter=meter_provider.get_meter("otelperf"),
            alerts=self.dispatcher,
        )
        # Leak detection's threads go first: they need nothing from the span pipeline, whose
        # shutdown may use the whole timeout when the collector is down.
        self.early_closers += self.leaks.start(context)
        for part in (self.judging, self.tail):
            self.closers += part.start(context)
        # Alerts last: the parts' final checks may still raise some.
        if self.dispatcher is not None:
            self.closers.append(
                functools.partial(self.dispatcher.shutdown, ALERTS_SHUTDOWN_TIMEOUT_S)
            )

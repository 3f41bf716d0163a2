"""How ``configure()`` plugs otelperf's optional parts into the providers it installed or found.

Each part lives in its own module and is built in two steps: its constructor only checks the
settings (a ``ConfigError`` must leave nothing half-installed), and ``start(context)`` starts its
threads, hooks and metrics once the providers exist, returning what to close at shutdown.

* :mod:`otelperf._wiring.judging`: budgets, SLOs, regressions and slow-span checks.
* :mod:`otelperf._wiring.leaks`: the memory monitor and the span-leak processor.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from opentelemetry.metrics import Meter
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider

from otelperf._settings import Settings
from otelperf.alerts import AlertDispatcher
from otelperf.processors.aggregator import Aggregator

__all__ = ["Context", "service_of"]


@dataclass(frozen=True, slots=True)
class Context:
    """What a part may plug into.

    Attributes:
        settings: The resolved settings.
        resource: The tracer provider's resource (its attributes go on alerts).
        tracer_provider: Where span processors are added.
        aggregator: The percentile store's owner (tick hooks, slow-span hooks, statistics).
        meter: The ``otelperf`` meter of the meter provider otelperf's metrics go through.
        alerts: The alert dispatcher, or None when there are no alert sinks.
    """

    settings: Settings
    resource: Resource
    tracer_provider: TracerProvider
    aggregator: Aggregator
    meter: Meter
    alerts: AlertDispatcher | None

    @property
    def service(self) -> str:
        """The service name alerts carry."""
        return service_of(self.resource.attributes)

    @property
    def resource_attributes(self) -> dict[str, object]:
        """The resource's attributes as a plain dict (for alerts)."""
        return dict(self.resource.attributes)


def service_of(attributes: Mapping[str, object]) -> str:
    """The ``service.name`` in ``attributes``, or ``unknown_service``."""
    return str(attributes.get(SERVICE_NAME) or "unknown_service")

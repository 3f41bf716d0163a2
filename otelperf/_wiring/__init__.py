"""How ``configure()`` plugs otelperf's optional parts into the providers it installed or found.

Each part lives in its own module and is built in two steps: its constructor only checks the
settings (a ``ConfigError`` must leave nothing half-installed), and ``start(context)`` starts its
threads, hooks and metrics once the providers exist, returning what to close at shutdown.

* :mod:`otelperf._wiring.judging`: budgets, SLOs, regressions and slow-span checks.
* :mod:`otelperf._wiring.leaks`: the memory monitor and the span-leak processor.
* :mod:`otelperf._wiring.tail`: tail sampling in front of otelperf's span exporters.

Beside them, :mod:`otelperf._wiring.export` builds what surrounds the exporters and
:mod:`otelperf._wiring.otlp_env` refuses the OTLP variables the SDK's exporters would choke on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from opentelemetry.metrics import Meter
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import SpanProcessor

from otelperf._settings import Settings
from otelperf.alerts import AlertDispatcher
from otelperf.processors.aggregator import Aggregator

__all__ = ["Context", "SpanProcessorHost", "service_of"]


class SpanProcessorHost(Protocol):
    """What otelperf needs of a tracer provider: the SDK's public ``add_span_processor``.

    The SDK's ``TracerProvider`` has it, and so do providers that wrap one, such as Logfire's
    ``ProxyTracerProvider``.
    """

    def add_span_processor(self, span_processor: SpanProcessor) -> None:
        """Add ``span_processor`` after the processors already there."""


@dataclass(frozen=True, slots=True)
class Context:
    """What a part may plug into.

    Attributes:
        settings: The resolved settings.
        resource: The tracer provider's resource (its attributes go on alerts).
        tracer_provider: Where span processors are added (otelperf's own provider or the one
            it attached to).
        aggregator: The percentile store's owner (tick hooks, slow-span hooks, statistics).
        meter: The ``otelperf`` meter of the meter provider otelperf's metrics go through.
        alerts: The alert dispatcher, or None when there are no alert sinks.
    """

    settings: Settings
    resource: Resource
    tracer_provider: SpanProcessorHost
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

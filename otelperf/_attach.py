"""otelperf beside the global providers: attach to one already installed, or check ours took.

OpenTelemetry allows one global ``TracerProvider``, set once. ``configure()`` asks this module:

* :func:`can_attach`: does the installed provider take span processors? The SDK's
  ``TracerProvider`` does, and so do providers that wrap one behind the same public method, such
  as Logfire's ``ProxyTracerProvider`` (an API ``TracerProvider`` subclass with
  ``add_span_processor`` and ``resource``, but no ``sampler``). :func:`attach` then adds
  otelperf's processors to it, and otelperf's metrics get a private ``MeterProvider``.
* :func:`install_tracer_provider`: after ``set_tracer_provider``, is ours really the global one?
  OpenTelemetry only logs "Overriding of current TracerProvider is not allowed" when another was
  set first; otelperf would then measure nothing. The caller logs one WARNING and returns an
  inactive handle instead.

Whatever the provider lacks (a sampler, a resource) is read defensively: it is someone else's
object. A provider that swaps its inner SDK provider later (Logfire does on a second
``logfire.configure()``) drops otelperf's processors with it; nothing here can see that.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import cast

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import SERVICE_NAME, Resource

from otelperf import _exporters
from otelperf._otlp_presets import with_otlp_preset
from otelperf._safety import logger, never_raise
from otelperf._settings import Settings, env_name, source_of
from otelperf._wiring import SpanProcessorHost
from otelperf._wiring.export import metric_readers, observe_drops
from otelperf._wiring.otlp_env import check_otlp_environment
from otelperf._wiring.parts import Parts
from otelperf.exporters.fork_safe_reader import ForkSafePeriodicReader
from otelperf.processors.aggregator import Aggregator
from otelperf.processors.latency import LatencyProcessor

__all__ = [
    "attach",
    "can_attach",
    "install_meter_provider",
    "install_tracer_provider",
    "not_attachable",
    "targets",
]

# Settings an attached otelperf cannot apply, and why: the sampler, resource and span exporters
# belong to whoever installed the provider.
_NOT_APPLIED = {
    "sample_ratio": "the sampler is theirs",
    "service_name": "the resource is theirs",
    "measure_unsampled": "the sampler is theirs",
    "exporters": "applied to otelperf's metrics only; spans keep their exporters",
}


def can_attach(provider: object) -> bool:
    """True when ``provider`` takes span processors (a callable ``add_span_processor``)."""
    return callable(getattr(provider, "add_span_processor", None))


def not_attachable(provider: object) -> str | None:
    """Why otelperf can neither attach to nor replace ``provider``; None when it can do one.

    The API's own ``ProxyTracerProvider`` means nothing is installed yet: otelperf installs its
    own. Anything else that takes no span processors (a ``NoOpTracerProvider``, a provider of the
    API only) blocks otelperf, since the global provider cannot be replaced.
    """
    if isinstance(provider, trace.ProxyTracerProvider) or can_attach(provider):
        return None
    return (
        f"the global TracerProvider is a {_name(provider)}, installed before otelperf, which "
        "takes no span processors (no add_span_processor), and OpenTelemetry allows a single "
        "global TracerProvider; configure otelperf before whatever installs it"
    )


def install_tracer_provider(ours: trace.TracerProvider) -> str | None:
    """Make ``ours`` the global tracer provider; return why not when another one won."""
    trace.set_tracer_provider(ours)
    current = trace.get_tracer_provider()
    if current is ours:
        return None
    return (
        f"another TracerProvider ({_name(current)}) became the global one while otelperf "
        "was installing its own, and OpenTelemetry allows a single global TracerProvider"
    )


def install_meter_provider(ours: MeterProvider) -> None:
    """Make ``ours`` the global meter provider unless someone else's is (then ours stays private).

    otelperf's metrics go through ``ours`` either way: its readers export them.
    """
    existing = metrics.get_meter_provider()
    # The API's own classes (its proxy, NoOp) live in opentelemetry.metrics; a provider from
    # any other module (the SDK's, Logfire's ProxyMeterProvider) was installed by someone.
    if type(existing).__module__.startswith("opentelemetry.metrics"):
        metrics.set_meter_provider(ours)
        existing = metrics.get_meter_provider()
    if existing is not ours:
        logger.info(
            "otelperf: a MeterProvider (%s) is already installed; otelperf's metrics use their "
            "own, private one",
            _name(existing),
        )


def attach(
    settings: Settings,
    given: Mapping[str, object],
    provider: trace.TracerProvider,
    environ: Mapping[str, str],
    parts: Parts,
    aggregator: Aggregator,
) -> tuple[MeterProvider, list[object]]:
    """Attach otelperf's processors to ``provider``; one INFO line says what was not changed.

    Metric exporters follow ``exporters`` when given, else ``OTEL_METRICS_EXPORTER``, as when
    otelperf installs its own providers.

    Returns:
        otelperf's private meter provider and the exporters its readers export to.

    Raises:
        ConfigError: A metric exporter cannot be built (checked before anything is attached).
    """
    host = cast(SpanProcessorHost, provider)
    resource = _resource_of(provider, settings)
    environ = with_otlp_preset(settings.otlp_preset, environ)
    names_given = source_of("exporters", given, environ) in ("kwarg", env_name("exporters"))
    metric_names = _exporters.metric_exporter_names(
        settings.exporters, names_given=names_given, environ=environ
    )
    check_otlp_environment((), metric_names, environ)
    made: list[object] = []
    readers = metric_readers(
        metric_names, aggregator, resource, environ, settings.otlp_preset, made
    )
    host.add_span_processor(LatencyProcessor(aggregator))
    meter_provider = MeterProvider(
        resource=resource, metric_readers=readers, shutdown_on_exit=False
    )
    observe_drops(meter_provider, aggregator, made)
    parts.start(host, resource, aggregator, meter_provider)
    logger.info(_attach_line(settings, given, environ, provider))
    return meter_provider, targets(readers)


def targets(readers: Sequence[object]) -> list[object]:
    """The exporters otelperf's metric readers export to (their last outcome bounds shutdown)."""
    return [r.target for r in readers if isinstance(r, ForkSafePeriodicReader)]


def _attach_line(
    settings: Settings,
    given: Mapping[str, object],
    environ: Mapping[str, str],
    provider: object,
) -> str:
    sampler = getattr(provider, "sampler", None)
    describe = getattr(sampler, "get_description", None)
    description = never_raise(describe)() if callable(describe) else None
    kept = (
        f"kept its sampler ({description}: percentiles see only the spans it records)"
        if description
        else "kept its sampler (not visible to otelperf: percentiles see only the spans it records)"
    )
    line = (
        f"otelperf: attached to the TracerProvider already installed ({_name(provider)}); "
        f"{kept}, resource and span exporters; otelperf metrics use their own MeterProvider"
    )
    skipped = []
    for name, why in _NOT_APPLIED.items():
        source = source_of(name, given, environ)
        if source in ("kwarg", env_name(name)):
            shown = f"configure({name}=...)" if source == "kwarg" else source
            skipped.append(f"{name} from {shown} ({why})")
    if settings.tail_sampling == "on":
        skipped.append("tail_sampling=on (the span exporters are not otelperf's to wrap)")
    return f"{line}; not applied: {', '.join(skipped)}" if skipped else line


def _resource_of(provider: object, settings: Settings) -> Resource:
    """The provider's resource, or one built like otelperf's own when it shows none."""
    resource = getattr(provider, "resource", None)
    if isinstance(resource, Resource):
        return resource
    return Resource.create({SERVICE_NAME: settings.service_name} if settings.service_name else {})


def _name(provider: object) -> str:
    kind = type(provider)
    return f"{kind.__module__}.{kind.__qualname__}"

"""``configure()`` and ``shutdown()``: install otelperf into the OTel SDK, or attach to one.

Two ways in, one code path (the distro calls :func:`configure_from_environment`):

* No tracer provider installed yet: build a ``TracerProvider`` (head sampler from
  ``sample_ratio`` or ``OTEL_TRACES_SAMPLER``, resource from the SDK's detectors plus
  ``service_name``) and a ``MeterProvider``, with the configured exporters, and install them
  globally, checking that ours really became the global tracer provider.
* A provider that takes span processors is already installed (an SDK one from a vendor distro
  or the user, Logfire's proxy): attach to it (:mod:`otelperf._attach`). One INFO line says what
  could not be changed.
* Anything else installed first (it takes no span processors and cannot be replaced): one
  WARNING says otelperf is not active and why; the handle returned has no providers.
"""

from __future__ import annotations

import functools
import os
import threading
import warnings
from collections.abc import Callable, Mapping
from typing import TypeVar

from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader
from opentelemetry.sdk.resources import SERVICE_NAME
from opentelemetry.sdk.trace import TracerProvider
from typing_extensions import Unpack

from otelperf import _attach, _exporters, _identity
from otelperf._errors import ConfigError
from otelperf._kwargs import ConfigureKwargs
from otelperf._otlp_presets import with_otlp_preset
from otelperf._safety import logger, never_raise
from otelperf._sampler import head_sampler
from otelperf._settings import Settings, env_name, resolve, source_of
from otelperf._shutdown import (
    DEFAULT_SHUTDOWN_TIMEOUT_S,
    FAILING_SHUTDOWN_TIMEOUT_S,
    Handle,
    run_bounded,
    watch_exits,
)
from otelperf._wiring.export import check_batch_environment, metric_readers, observe_drops
from otelperf._wiring.otlp_env import check_otlp_environment
from otelperf._wiring.parts import Parts
from otelperf.exporters.counting import count_drops
from otelperf.processors.aggregator import Aggregator
from otelperf.processors.latency import LatencyProcessor
from otelperf.processors.sampling import MeasureAllSampler

_T = TypeVar("_T")

__all__ = [
    "DEFAULT_SHUTDOWN_TIMEOUT_S",
    "FAILING_SHUTDOWN_TIMEOUT_S",
    "Handle",
    "configure",
    "configure_from_environment",
    "current",
    "forget",
    "shutdown",
]

_lock = threading.Lock()  # guards _handle: configure() may race from several threads
_handle: Handle | None = None


def current() -> Handle | None:
    """Return the handle of the configured otelperf, or None before ``configure()``."""
    return _handle


def forget(handle: Handle) -> None:
    """Let ``configure()`` install afresh once ``handle`` is shut down (test isolation only).

    OpenTelemetry's global providers stay set; the pytest plugin (``otelperf.testing``) resets
    them itself between tests. Does nothing if ``handle`` is not the current one.
    """
    global _handle
    with _lock:
        if _handle is handle:
            _handle = None


def configure(**settings: Unpack[ConfigureKwargs]) -> Handle:
    """Install otelperf (see the module docstring); a second call warns and returns the handle.

    The warning of a second call names the settings it gives that differ from the active ones
    (they are not applied), never their values (webhook URLs may carry tokens).

    Args:
        **settings: Any setting of the README table (typed by ``ConfigureKwargs`` for type
            checkers; an unknown keyword is a ``ConfigError`` at run time too); ``None`` means
            "not given".

    Raises:
        ConfigError: A keyword or ``OTELPERF_*``/``OTEL_*`` value is invalid (also on a second
            call: its keywords are resolved to compare them with the active settings).
    """
    global _handle
    with _lock:
        if _handle is not None:
            ignored = _differing(_handle, settings, os.environ)
            warnings.warn(
                "otelperf.configure() was already called; returning the existing handle "
                "(OpenTelemetry's global providers cannot be replaced)"
                + (
                    f"; these settings differ from the active ones and are NOT applied: "
                    f"{', '.join(ignored)}"
                    if ignored
                    else ""
                ),
                RuntimeWarning,
                stacklevel=2,
            )
            return _handle
        handle = _install(settings, os.environ)
        handle._alerts_input = _alerts_input(settings, os.environ)
        _handle = handle
    # Lazy import: otelperf.report reads the handle (cycle). Records the report's history (one
    # cached all_stats, one RSS read and one budget evaluation every 5 s, on the tick thread).
    from otelperf.report.inprocess import start_history

    never_raise(start_history)()
    return handle


def _differing(
    handle: Handle, given: Mapping[str, object], environ: Mapping[str, str]
) -> list[str]:
    """The settings ``given`` asks for that differ from ``handle``'s (not given: not listed)."""
    new = resolve(given, environ)
    names = [
        name
        for name, value in given.items()
        if value is not None
        and name != "alerts"
        and getattr(new, name) != getattr(handle.settings, name)
    ]
    # Sinks have no value equality: compare what alerts was given as.
    if given.get("alerts") is not None and given["alerts"] != handle._alerts_input:
        names.append("alerts")
    return sorted(names)


def _alerts_input(given: Mapping[str, object], environ: Mapping[str, str]) -> object:
    if (value := given.get("alerts")) is not None:
        return value
    return environ.get(env_name("alerts"), "").strip() or None


def configure_from_environment() -> Handle | None:
    """The distro's entry: configure from the environment; on bad settings log one ERROR line.

    Returns None (and leaves the application untouched) when a setting is invalid, so a typo in
    an ``OTELPERF_*`` variable never stops the application from starting.
    """
    if _handle is not None:
        return _handle
    try:
        return configure()
    except ConfigError as error:
        logger.error("otelperf disabled: %s", error)
        return None


def shutdown(*, timeout_s: float = DEFAULT_SHUTDOWN_TIMEOUT_S) -> bool:
    """Flush and stop otelperf; idempotent, bounded by ``timeout_s``; a no-op if not configured."""
    handle = _handle
    return True if handle is None else handle.shutdown(timeout_s=timeout_s)


def _install(given: Mapping[str, object], environ: Mapping[str, str]) -> Handle:
    settings = resolve(given, environ)
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        logger.info("otelperf: OTEL_SDK_DISABLED=true, nothing installed")
        return Handle(settings, None, None, attached=False)
    existing = trace.get_tracer_provider()
    if (why := _attach.not_attachable(existing)) is not None:
        return _inactive(settings, why)
    if _attach.can_attach(existing):
        parts = Parts(settings)
        aggregator = _aggregator(settings)
        meter_provider, targets = _or_stop(
            aggregator,
            functools.partial(_attach.attach, settings, given, existing, environ, parts),
        )
        return _new_handle(
            settings, existing, meter_provider, aggregator, parts, targets, attached=True
        )
    return _own(settings, given, environ)


def _inactive(settings: Settings, why: str) -> Handle:
    logger.warning("otelperf is not active (it measures nothing): %s", why)
    return Handle(settings, None, None, attached=False)


def _or_stop(aggregator: Aggregator, build: Callable[[Aggregator], _T]) -> _T:
    """``build(aggregator)``; if it raises, stop the aggregator's thread first."""
    try:
        return build(aggregator)
    except BaseException:
        aggregator.shutdown(timeout_s=0.5)
        raise


def _own(settings: Settings, given: Mapping[str, object], environ: Mapping[str, str]) -> Handle:
    # Build everything that can fail first: a ConfigError must leave no half-installed state.
    check_batch_environment(environ)
    sampler = MeasureAllSampler(
        head_sampler(settings, environ),
        measure=settings.measure_unsampled,  # type: ignore[arg-type]  # checked by Choice
    )
    environ = with_otlp_preset(settings.otlp_preset, environ)
    names_given = source_of("exporters", given, environ) in ("kwarg", env_name("exporters"))
    metric_names = _exporters.metric_exporter_names(
        settings.exporters, names_given=names_given, environ=environ
    )
    check_otlp_environment(settings.exporters, metric_names, environ)
    parts = Parts(settings)
    attributes = {SERVICE_NAME: settings.service_name} if settings.service_name else {}
    # Lists the SDK's "process" detector: each forked worker then reports its own process.pid.
    resource = _identity.process_resource(attributes)
    span_exporters = count_drops(
        _exporters.span_exporters(settings.exporters, environ, otlp_preset=settings.otlp_preset)
    )
    aggregator = _aggregator(settings)
    made: list[object] = []
    readers: list[MetricReader] = _or_stop(
        aggregator,
        lambda agg: metric_readers(
            metric_names, agg, resource, environ, settings.otlp_preset, made
        ),
    )
    # shutdown_on_exit=False: the SDK's own atexit hook is unbounded when exporters hang; ours
    # (registered below) runs the same shutdown with a deadline.
    tracer_provider = TracerProvider(sampler=sampler, resource=resource, shutdown_on_exit=False)
    tracer_provider.add_span_processor(LatencyProcessor(aggregator))
    for processor in parts.tail.span_processors(span_exporters, aggregator):
        tracer_provider.add_span_processor(processor)
    meter_provider = MeterProvider(
        resource=resource, metric_readers=readers, shutdown_on_exit=False
    )
    if (why := _attach.install_tracer_provider(tracer_provider)) is not None:
        # Lost a race for the global slot: drop what was built (bounded, nothing started yet
        # but the exporters' and the aggregator's threads).
        run_bounded([tracer_provider.shutdown, meter_provider.shutdown], 1.0)
        return _inactive(settings, why)
    _attach.install_meter_provider(meter_provider)
    observe_drops(meter_provider, aggregator, (*span_exporters, *made))
    parts.start(tracer_provider, resource, aggregator, meter_provider)
    # The tracer provider stops the aggregator, whose last tick may still raise alerts.
    watched = [*span_exporters, *_attach.targets(readers)]
    return _new_handle(
        settings, tracer_provider, meter_provider, aggregator, parts, watched, attached=False
    )


def _new_handle(
    settings: Settings,
    tracer_provider: trace.TracerProvider,
    meter_provider: MeterProvider,
    aggregator: Aggregator,
    parts: Parts,
    exporters: list[object],
    *,
    attached: bool,
) -> Handle:
    """Build the handle; its bounded shutdown also runs at interpreter exit and on SIGTERM.

    Shutdown order: leak detection's threads, then spans (our own provider's shutdown stops the
    aggregator; an attached one is not ours to stop, so only the aggregator), then alerts (the
    aggregator's last tick may raise some), then the final metric export.
    """
    handle = Handle(
        settings,
        tracer_provider,
        meter_provider,
        attached=attached,
        aggregator=aggregator,
        budgets=parts.judging.monitor,
        alerts=parts.dispatcher,
        memory=parts.leaks.memory,
        span_leaks=parts.leaks.span_leaks,
        tail_sampler=parts.tail.processor,
    )
    handle._exporters += exporters
    stop_spans: Callable[[], object] = aggregator.shutdown
    if not attached and isinstance(tracer_provider, TracerProvider):
        stop_spans = tracer_provider.shutdown
    handle._closers += [*parts.early_closers, stop_spans, *parts.closers, meter_provider.shutdown]
    watch_exits(handle)
    return handle


def _aggregator(settings: Settings) -> Aggregator:
    return Aggregator(
        window_s=settings.window_s,
        max_operations=settings.max_operations,
        key_attributes=settings.key_attributes,
    )

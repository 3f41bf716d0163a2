"""``configure()`` and ``shutdown()``: install otelperf into the OTel SDK, or attach to one.

Two ways in, one code path (the distro calls :func:`configure_from_environment`):

* No SDK provider installed yet: build a ``TracerProvider`` (head sampler from ``sample_ratio``
  or ``OTEL_TRACES_SAMPLER``, resource from the SDK's detectors plus ``service_name``) and a
  ``MeterProvider``, with the configured exporters, and install them globally.
* An SDK provider is already installed (Logfire, a vendor distro, the user): add otelperf's span
  processors to it through its public ``add_span_processor`` and keep its sampler, resource and
  exporters; otelperf's own metrics then get a private ``MeterProvider`` (an SDK ``MeterProvider``
  cannot take a new reader after creation). One INFO line says what could not be changed.
"""

from __future__ import annotations

import atexit
import functools
import multiprocessing.util
import os
import threading
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader
from opentelemetry.sdk.resources import SERVICE_NAME
from opentelemetry.sdk.trace import TracerProvider

from otelperf import _exporters, _identity
from otelperf._errors import ConfigError
from otelperf._otlp_presets import with_otlp_preset
from otelperf._safety import logger, never_raise
from otelperf._sampler import head_sampler
from otelperf._settings import Settings, resolve, source_of
from otelperf._signals import flush_on_sigterm
from otelperf._wiring import Context
from otelperf._wiring.export import check_batch_environment, metric_readers, observe_drops
from otelperf._wiring.judging import Judging
from otelperf._wiring.leaks import Leaks
from otelperf._wiring.tail import Tail
from otelperf.alerts import AlertDispatcher
from otelperf.exporters.counting import count_drops
from otelperf.exporters.fork_safe_reader import ForkSafePeriodicReader
from otelperf.processors.aggregator import Aggregator
from otelperf.processors.budgets import BudgetMonitor
from otelperf.processors.latency import LatencyProcessor
from otelperf.processors.leaks import MemoryMonitor
from otelperf.processors.sampling import MeasureAllSampler
from otelperf.processors.span_leaks import SpanLeakProcessor
from otelperf.processors.tail_sampling import TailSamplingProcessor

__all__ = ["Handle", "configure", "configure_from_environment", "current", "forget", "shutdown"]

DEFAULT_SHUTDOWN_TIMEOUT_S = 5.0
# When the last export already failed (collector down), the final flush will most likely fail
# too: wait this long at most, so that a gunicorn master and its workers, one after the other,
# still exit within the 5 s an orchestrator usually grants.
FAILING_SHUTDOWN_TIMEOUT_S = 1.0
# Share of the shutdown a hanging alert sink may take: the final metric export comes after it.
ALERTS_SHUTDOWN_TIMEOUT_S = 2.0


@dataclass(eq=False)
class Handle:
    """What ``configure()`` installed. Returned again by a second ``configure()`` call.

    Attributes:
        settings: The resolved settings.
        tracer_provider: The SDK tracer provider otelperf uses (its own, or the one it attached to);
            None when the SDK is disabled (``OTEL_SDK_DISABLED=true``).
        meter_provider: The meter provider otelperf's metrics go through (None when disabled).
        attached: True when otelperf attached to providers someone else installed.
        aggregator: The percentile store's owner (None when disabled).
        budgets: Judges budgets, SLOs and regressions on the aggregator's ticks; None when
            there are no budgets and ``regression_factor`` is ``off`` (or when disabled).
        alerts: Delivers alerts to the ``alerts`` sinks; None when there are none (or nothing
            could raise one).
        memory: Samples memory and judges its growth; None when ``memory_interval_s`` is off.
        span_leaks: Tracks open spans; None when ``span_leak_after_s`` is off.
        tail_sampler: Decides which local traces are exported; None unless ``tail_sampling``
            is on (and otelperf installed the tracer provider).
    """

    settings: Settings
    tracer_provider: TracerProvider | None
    meter_provider: MeterProvider | None
    attached: bool
    aggregator: Aggregator | None = None
    budgets: BudgetMonitor | None = None
    alerts: AlertDispatcher | None = None
    memory: MemoryMonitor | None = None
    span_leaks: SpanLeakProcessor | None = None
    tail_sampler: TailSamplingProcessor | None = None
    _closers: list[Callable[[], object]] = field(default_factory=list, repr=False)
    _exporters: list[object] = field(default_factory=list, repr=False)
    _closed: bool = field(default=False, repr=False)

    def shutdown(self, *, timeout_s: float = DEFAULT_SHUTDOWN_TIMEOUT_S) -> bool:
        """Flush and stop what otelperf owns; idempotent and bounded by ``timeout_s``.

        Runs the SDK's shutdown in a daemon thread and waits at most ``timeout_s``: with the
        collector down, exporters may retry for their own timeout, and the process must still
        exit in time. When the last export already failed, it waits at most
        ``FAILING_SHUTDOWN_TIMEOUT_S``. Returns True when everything finished within the timeout.
        """
        if self._closed:
            return True
        self._closed = True
        if self._export_failing():
            timeout_s = min(timeout_s, FAILING_SHUTDOWN_TIMEOUT_S)
        # In order: spans first (they feed the percentile store), then the final metric export.
        closers = list(self._closers)
        worker = threading.Thread(
            target=_run_all, args=(closers,), name="otelperf-shutdown", daemon=True
        )
        worker.start()
        worker.join(timeout_s)
        if worker.is_alive():
            logger.warning("otelperf shutdown did not finish within %.1f s; going on", timeout_s)
            return False
        return True

    def _export_failing(self) -> bool:
        """True when the last export of one of otelperf's exporters failed."""
        return any(not getattr(e, "last_ok", True) for e in self._exporters)


def _run_all(closers: list[Callable[[], object]]) -> None:
    for close in closers:
        never_raise(close)()


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


def configure(**settings: object) -> Handle:
    """Install otelperf (see the module docstring); a second call warns and returns the handle.

    Args:
        **settings: Any setting of the README table; ``None`` means "not given".

    Raises:
        ConfigError: A keyword or ``OTELPERF_*``/``OTEL_*`` value is invalid.
    """
    global _handle
    with _lock:
        if _handle is not None:
            warnings.warn(
                "otelperf.configure() was already called; returning the existing handle "
                "(OpenTelemetry's global providers cannot be replaced)",
                RuntimeWarning,
                stacklevel=2,
            )
            return _handle
        _handle = _install(settings, os.environ)
    # Lazy import: otelperf.report reads the handle (cycle). Records the report's history (one
    # cached all_stats, one RSS read and one budget evaluation every 5 s, on the tick thread).
    from otelperf.report.inprocess import start_history

    never_raise(start_history)()
    return _handle


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
    if isinstance(existing, TracerProvider):
        return _attach(settings, existing, environ)
    return _own(settings, given, environ)


def _own(settings: Settings, given: Mapping[str, object], environ: Mapping[str, str]) -> Handle:
    # Build everything that can fail first: a ConfigError must leave no half-installed state.
    check_batch_environment(environ)
    sampler = MeasureAllSampler(
        head_sampler(settings, environ),
        measure=settings.measure_unsampled,  # type: ignore[arg-type]  # checked by Choice
    )
    attributes = {SERVICE_NAME: settings.service_name} if settings.service_name else {}
    # Lists the SDK's "process" detector: each forked worker then reports its own process.pid.
    resource = _identity.process_resource(attributes)
    environ = with_otlp_preset(settings.otlp_preset, environ)
    span_exporters = count_drops(
        _exporters.span_exporters(settings.exporters, environ, otlp_preset=settings.otlp_preset)
    )
    names_given = source_of("exporters", given, environ) in ("kwarg", "OTELPERF_EXPORTERS")
    metric_names = _exporters.metric_exporter_names(
        settings.exporters, names_given=names_given, environ=environ
    )
    parts = _Parts(settings)
    aggregator = _aggregator(settings)
    made: list[object] = []
    readers = metric_readers(
        metric_names, aggregator, resource, environ, settings.otlp_preset, made
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
    observe_drops(meter_provider, aggregator, (*span_exporters, *made))
    parts.start(tracer_provider, aggregator, meter_provider)
    trace.set_tracer_provider(tracer_provider)
    if isinstance(metrics.get_meter_provider(), MeterProvider):
        logger.info("otelperf: an SDK MeterProvider is already installed; ours stays private")
    else:
        metrics.set_meter_provider(meter_provider)
    # The tracer provider stops the aggregator, whose last tick may still raise alerts.
    watched = [*span_exporters, *_targets(readers)]
    return _new_handle(
        settings, tracer_provider, meter_provider, aggregator, parts, watched, attached=False
    )


def _attach(settings: Settings, provider: TracerProvider, environ: Mapping[str, str]) -> Handle:
    parts = _Parts(settings)
    aggregator = _aggregator(settings)
    environ = with_otlp_preset(settings.otlp_preset, environ)
    made: list[object] = []
    readers = metric_readers(
        settings.exporters, aggregator, provider.resource, environ, settings.otlp_preset, made
    )
    provider.add_span_processor(LatencyProcessor(aggregator))
    meter_provider = MeterProvider(
        resource=provider.resource, metric_readers=readers, shutdown_on_exit=False
    )
    observe_drops(meter_provider, aggregator, made)
    parts.start(provider, aggregator, meter_provider)
    parts.tail.attached()
    logger.info(
        "otelperf: attached to the TracerProvider already installed; kept its sampler (%s: "
        "percentiles see only the spans it records), resource and span exporters; otelperf "
        "metrics use their own MeterProvider",
        provider.sampler.get_description(),
    )
    return _new_handle(
        settings, provider, meter_provider, aggregator, parts, _targets(readers), attached=True
    )


def _new_handle(
    settings: Settings,
    tracer_provider: TracerProvider,
    meter_provider: MeterProvider,
    aggregator: Aggregator,
    parts: _Parts,
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
    stop_spans = aggregator.shutdown if attached else tracer_provider.shutdown
    handle._closers += [*parts.early_closers, stop_spans, *parts.closers, meter_provider.shutdown]
    atexit.register(handle.shutdown)
    multiprocessing.util.register_after_fork(handle, _flush_at_child_exit)
    flush_on_sigterm(handle.shutdown)
    return handle


def _flush_at_child_exit(handle: Handle) -> None:
    """In a ``multiprocessing`` child: run the bounded shutdown when the child leaves.

    Such children end with ``os._exit``, so ``atexit`` (and our shutdown) never runs there and
    whatever the child measured or queued since its last export would be lost.
    """
    multiprocessing.util.Finalize(handle, handle.shutdown, exitpriority=100)


def _targets(readers: list[MetricReader]) -> list[object]:
    """The exporters otelperf's metric readers export to (their last outcome bounds shutdown)."""
    return [r.target for r in readers if isinstance(r, ForkSafePeriodicReader)]


def _aggregator(settings: Settings) -> Aggregator:
    return Aggregator(
        window_s=settings.window_s,
        max_operations=settings.max_operations,
        key_attributes=settings.key_attributes,
    )


class _Parts:
    """otelperf's optional parts (:mod:`otelperf._wiring`) and the alert dispatcher they share.

    The constructor only checks (a ``ConfigError`` must leave nothing half-installed);
    :meth:`start` starts them once the providers exist.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.judging = Judging(settings)
        self.leaks = Leaks(settings)
        self.tail = Tail(settings)
        self.dispatcher: AlertDispatcher | None = None
        self.early_closers: list[Callable[[], object]] = []
        self.closers: list[Callable[[], object]] = []

    def start(
        self, tracer_provider: TracerProvider, aggregator: Aggregator, meter_provider: MeterProvider
    ) -> None:
        parts = (self.judging, self.leaks, self.tail)
        if self._settings.alerts and any(part.wants_alerts for part in parts):
            self.dispatcher = AlertDispatcher(self._settings.alerts)
        context = Context(
            settings=self._settings,
            resource=tracer_provider.resource,
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

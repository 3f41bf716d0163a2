"""Tail sampling wired in front of otelperf's span exporters (``tail_sampling=on``).

``configure()`` asks :meth:`Tail.span_processors` for the processors that export spans: with tail
sampling off, one ``BatchSpanProcessor`` per exporter, as before; with it on, one
:class:`~otelperf.processors.tail_sampling.TailSamplingProcessor` in front of them (several
exporters share one decision through the SDK's ``SynchronousMultiSpanProcessor``). It comes
after the ``LatencyProcessor``, so percentiles still see every span. :meth:`Tail.start`
registers ``otelperf.sampling.decisions``.

Tail sampling needs every span recorded: ``measure_unsampled`` must be ``all`` (with ``roots``
the children of unsampled requests are never recorded, so a kept trace would be its root alone;
with ``none`` nothing unsampled reaches the processor). When otelperf attaches to a
``TracerProvider`` someone else installed, the exporters are theirs and cannot be wrapped, so
tail sampling is not applied (the attach INFO line says so when it was asked for).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from opentelemetry.sdk.trace import SpanProcessor, SynchronousMultiSpanProcessor
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

from otelperf._safety import logger
from otelperf._settings import Settings
from otelperf._wiring import Context
from otelperf.processors._tail_policy import budget_threshold_ms
from otelperf.processors.aggregator import Aggregator
from otelperf.processors.tail_sampling import TailSamplingProcessor

__all__ = ["Tail"]


class Tail:
    """Builds the exporting span processors, behind tail sampling when it is on.

    The constructor only reads the settings; :meth:`span_processors` builds, :meth:`start`
    registers the metric once the meter exists.
    """

    wants_alerts = False

    def __init__(self, settings: Settings) -> None:
        """Decide whether tail sampling applies (``resolve()`` already checked the settings)."""
        self._settings = settings
        self.enabled = settings.tail_sampling == "on" or (
            # "auto" (if the setting offers it): on exactly when head sampling drops traces and
            # every span is still recorded, i.e. when there is something to keep.
            settings.tail_sampling == "auto"
            and settings.sample_ratio is not None
            and settings.sample_ratio < 1
            and settings.measure_unsampled == "all"
        )
        self.processor: TailSamplingProcessor | None = None

    def span_processors(
        self, exporters: Sequence[SpanExporter], aggregator: Aggregator
    ) -> list[SpanProcessor]:
        """The processors to add after the ``LatencyProcessor``, one per exporter or one in all."""
        batches: list[SpanProcessor] = [BatchSpanProcessor(exporter) for exporter in exporters]
        if not self.enabled or not batches:
            return batches
        inner = batches[0]
        if len(batches) > 1:
            fan_out = SynchronousMultiSpanProcessor()  # type: ignore[no-untyped-call]
            for batch in batches:
                fan_out.add_span_processor(batch)
            inner = fan_out
        settings = self._settings
        if settings.sample_ratio == 1.0:
            logger.info(
                "otelperf: tail_sampling is on but sample_ratio is 1: every trace is "
                "head-sampled and exported; set sample_ratio below 1 to export less"
            )
        self.processor = TailSamplingProcessor(
            inner,
            aggregator=aggregator,
            threshold_ms=budget_threshold_ms(settings.budgets) if settings.budgets else None,
            slow_ms=settings.slow_ms,
            max_traces=settings.tail_max_traces,
            max_spans_per_trace=settings.tail_max_spans_per_trace,
            wait_s=settings.tail_wait_s,
            floor_interval_s=settings.floor_interval_s,
        )
        return [self.processor]

    def start(self, context: Context) -> list[Callable[[], object]]:
        """Register ``otelperf.sampling.decisions`` (the tracer provider shuts the processor)."""
        if self.processor is not None:
            self.processor.register_metrics(context.meter)
        return []

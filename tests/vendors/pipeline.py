"""The otelperf pipeline a vendor exporter sits in, built from real SDK parts for tests.

Spans go through an SDK ``TracerProvider`` with otelperf's ``LatencyProcessor`` and
``Aggregator``; metrics through a ``MeterProvider`` whose reader wraps the vendor exporter in
``OperationMetricsExporter`` (which adds ``otelperf.operation.duration``), as ``configure()``
builds it. The reader's period is an hour: tests export with ``collect()``.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from opentelemetry import trace
from opentelemetry.metrics import Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricExporter, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider

from otelperf._exporters import MadeMetricExporter
from otelperf.aggregates import OperationStats
from otelperf.exporters.operation_metrics import OperationMetricsExporter
from otelperf.processors.aggregator import Aggregator
from otelperf.processors.latency import LatencyProcessor

RESOURCE = {"service.name": "shop", "host.name": "vm-1", "deployment.environment.name": "test"}


@dataclass
class Pipeline:
    tracer: trace.Tracer
    provider: TracerProvider
    aggregator: Aggregator
    meter_provider: MeterProvider

    def emit(self, name: str, durations_ms: list[float], *, error_every: int = 0) -> None:
        """End one server span per duration (explicit timestamps: no sleeping)."""
        for i, duration_ms in enumerate(durations_ms):
            span = self.tracer.start_span(name, kind=trace.SpanKind.SERVER, start_time=10**18)
            if error_every and i % error_every == 0:
                span.set_status(trace.StatusCode.ERROR, "boom")
            span.end(end_time=10**18 + int(duration_ms * 1e6))

    def stats(self, name: str) -> OperationStats:
        self.aggregator.flush()
        found = self.aggregator.stats(name)
        assert found is not None
        return found

    def collect(self) -> bool:
        """Run one metric export now (the reader's collect + the wrapped exporter)."""
        self.aggregator.flush()
        return self.meter_provider.force_flush(10_000)


def durations(n: int, *, seed: int = 7) -> list[float]:
    """Log-normal latencies in ms (a realistic long tail)."""
    rng = random.Random(seed)
    return [rng.lognormvariate(3.0, 0.8) for _ in range(n)]


@contextmanager
def pipeline(
    metric_exporter: MetricExporter | MadeMetricExporter | None = None,
    *,
    span_processors: tuple[SpanProcessor, ...] = (),
) -> Iterator[Pipeline]:
    """Build the pipeline around ``metric_exporter`` and shut everything down afterwards.

    A ``MadeMetricExporter`` (what ``configure()`` builds) brings the preferences the wrapper
    gets in ``configure()``; a bare exporter is wrapped as otelperf's vendor exporters are.
    """
    resource = Resource.create(RESOURCE)
    aggregator = Aggregator(window_s=60.0)
    provider = TracerProvider(resource=resource, shutdown_on_exit=False)
    provider.add_span_processor(LatencyProcessor(aggregator))
    for processor in span_processors:
        provider.add_span_processor(processor)
    readers = []
    if metric_exporter is not None:
        made = (
            metric_exporter
            if isinstance(metric_exporter, MadeMetricExporter)
            else MadeMetricExporter(metric_exporter, None, None)
        )
        wrapper = OperationMetricsExporter(
            made.exporter,
            aggregator,
            resource=resource,
            preferred_temporality=made.temporality,
            preferred_aggregation=made.aggregation,
        )
        readers.append(PeriodicExportingMetricReader(wrapper, export_interval_millis=3_600_000))
    meter_provider = MeterProvider(
        resource=resource, metric_readers=readers, shutdown_on_exit=False
    )
    # As configure() does: the SDK's reader exports nothing when no instrument has data, and
    # otelperf.dropped is the instrument configure() always registers.
    meter_provider.get_meter("otelperf").create_observable_counter(
        "otelperf.dropped",
        callbacks=[lambda options: [Observation(0, {"reason": "ring_full"})]],
        unit="{item}",
    )
    try:
        yield Pipeline(provider.get_tracer("test"), provider, aggregator, meter_provider)
    finally:
        provider.shutdown()
        meter_provider.shutdown()
        aggregator.shutdown()

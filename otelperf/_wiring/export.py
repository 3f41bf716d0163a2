"""What ``configure()`` builds around the exporters.

Fork-safe metric readers, drop counts, and the ``OTEL_BSP_*`` check the SDK would otherwise
fail on late and unclearly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader
from opentelemetry.sdk.resources import Resource

from otelperf import _exporters
from otelperf._errors import ConfigError
from otelperf.aggregates import KeyedWindows
from otelperf.exporters.fork_safe_reader import ForkSafePeriodicReader
from otelperf.exporters.operation_metrics import OperationMetricsExporter
from otelperf.processors.aggregator import Aggregator

__all__ = ["check_batch_environment", "metric_readers", "observe_drops"]

_BSP_INTS = (
    ("OTEL_BSP_MAX_QUEUE_SIZE", 2048),
    ("OTEL_BSP_SCHEDULE_DELAY", 5000),
    ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 512),
)


def check_batch_environment(environ: Mapping[str, str]) -> None:
    """Refuse the ``OTEL_BSP_*`` values ``BatchSpanProcessor`` would raise ``ValueError`` for.

    The SDK logs and ignores a value that is not an integer, but raises for one that is not
    positive or a batch larger than the queue, and only once the processor is built: a
    ``ConfigError`` naming the variable is what every other bad setting gets.
    """
    found = {}
    for name, default in _BSP_INTS:
        raw = environ.get(name, "").strip()
        try:
            found[name] = int(raw) if raw else default
        except ValueError:
            found[name] = default  # the SDK warns and uses its default
            continue
        if found[name] <= 0:
            raise ConfigError(f"{name}={raw!r}: expected a positive integer")
    queue, batch = found["OTEL_BSP_MAX_QUEUE_SIZE"], found["OTEL_BSP_MAX_EXPORT_BATCH_SIZE"]
    if batch > queue:
        raw = environ.get("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "")
        raise ConfigError(
            f"OTEL_BSP_MAX_EXPORT_BATCH_SIZE={raw!r}: expected at most the queue size ({queue})"
        )


def metric_readers(
    names: tuple[str, ...],
    aggregator: Aggregator,
    resource: Resource,
    environ: Mapping[str, str],
    otlp_preset: str | None,
    made: list[object],
) -> list[MetricReader]:
    """One fork-safe periodic reader per metric exporter; the exporters are appended to ``made``."""
    exporters = _exporters.metric_exporters(names, environ, otlp_preset=otlp_preset)
    made.extend(m.exporter for m in exporters)
    return [
        ForkSafePeriodicReader(
            OperationMetricsExporter(
                m.exporter,
                aggregator,
                resource=resource,
                preferred_temporality=m.temporality,
                preferred_aggregation=m.aggregation,
            )
        )
        for m in exporters
    ]


def observe_drops(
    meter_provider: MeterProvider, aggregator: Aggregator, exporters: Sequence[object] = ()
) -> None:
    """Report ``otelperf.dropped{reason}``: read at collection time, nothing per span.

    Exporters that count their drops (``drops``: the vendor exporters, and the SDK's wrapped in
    ``CountingSpanExporter``) add reasons ``export_<exporter>_<reason>``, e.g.
    ``export_otlpspan_failed`` or ``export_newrelicspan_timeout``.
    """

    def observe(options: CallbackOptions) -> list[Observation]:
        counts = aggregator.dropped()
        counts["max_operations"] = aggregator.with_store(_folded)
        for exporter in exporters:
            drops = getattr(exporter, "drops", None)
            default = type(exporter).__name__.removesuffix("Exporter").lower()
            name = getattr(exporter, "drop_name", default)
            for reason, n in (drops.counts() if drops is not None else {}).items():
                key = f"export_{name}_{reason}"
                counts[key] = counts.get(key, 0) + n
        return [Observation(n, {"reason": reason}) for reason, n in sorted(counts.items())]

    meter_provider.get_meter("otelperf").create_observable_counter(
        "otelperf.dropped",
        callbacks=[observe],
        unit="{item}",
        description="Items otelperf dropped or folded to stay bounded, by reason.",
    )


def _folded(now_ns: int, store: KeyedWindows) -> int:
    return store.folded_samples

"""The metrics the fleet stack stores in Prometheus, and how OTLP names are translated.

``EXPORTED_METRICS`` is the single table of metric names: what otelperf (and the Collector's
span metrics connector) emit over OTLP, with instrument kind and unit, and the name Prometheus
stores. The Grafana dashboard may query only these names; a test holds the dashboard, this table
and ``deploy/prometheus/prometheus.yml`` (which sets ``otlp.translation_strategy``) together.

Instrument kinds and units are part of the contract with the code that emits the metrics: Prometheus
derives the suffixes from them, so changing a unit renames the series (``"1"`` on a gauge adds
``_ratio``; ``By/h`` adds ``_bytes_per_hour``; a counter gets ``_total``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "EXPORTED_METRICS",
    "KNOWN_PROMETHEUS_NAMES",
    "TRANSLATION_STRATEGY",
    "ExportedMetric",
    "MetricKind",
    "prometheus_name",
]

TRANSLATION_STRATEGY = "UnderscoreEscapingWithSuffixes"
"""Prometheus ``otlp.translation_strategy`` the names below assume (Prometheus 3's default, set
explicitly in ``deploy/prometheus/prometheus.yml`` so a changed default cannot rename series)."""

MetricKind = Literal["counter", "updowncounter", "gauge", "histogram", "exponential_histogram"]

# Unit translation of the Prometheus OTLP translator (prometheus/otlptranslator, UCUM unit -> word).
_UNIT_WORDS = {
    "d": "days",
    "h": "hours",
    "min": "minutes",
    "s": "seconds",
    "ms": "milliseconds",
    "us": "microseconds",
    "ns": "nanoseconds",
    "By": "bytes",
    "KiBy": "kibibytes",
    "MiBy": "mebibytes",
    "GiBy": "gibibytes",
    "TiBy": "tibibytes",
    "KBy": "kilobytes",
    "MBy": "megabytes",
    "GBy": "gigabytes",
    "TBy": "terabytes",
    "m": "meters",
    "V": "volts",
    "A": "amperes",
    "J": "joules",
    "W": "watts",
    "g": "grams",
    "Cel": "celsius",
    "Hz": "hertz",
    "1": "",
    "%": "percent",
}
_PER_UNIT_WORDS = {
    "s": "second",
    "m": "minute",
    "h": "hour",
    "d": "day",
    "w": "week",
    "mo": "month",
    "y": "year",
}
_NOT_NAME_CHARS = re.compile(r"[^a-zA-Z0-9:]+")


@dataclass(frozen=True, slots=True)
class ExportedMetric:
    """One metric as emitted over OTLP and as stored by Prometheus.

    Attributes:
        otel_name: OTLP metric name.
        kind: Instrument kind; ``updowncounter`` is a non-monotonic sum (a gauge in Prometheus).
        unit: UCUM unit as emitted (``""`` for none; Prometheus drops ``{...}`` annotations).
        source: ``otelperf`` (the SDK side) or ``span_metrics`` (the Collector connector).
        prometheus_name: The series name stored by Prometheus. Exponential histograms become native
            histograms: one series under this name, no ``_bucket``/``_sum``/``_count``.
        labels: The metric's own attributes as Prometheus labels (dots become underscores), all
            of them; Prometheus adds ``job`` and ``instance`` from the resource.
    """

    otel_name: str
    kind: MetricKind
    unit: str
    source: Literal["otelperf", "span_metrics"]
    prometheus_name: str
    labels: tuple[str, ...] = ()


EXPORTED_METRICS: tuple[ExportedMetric, ...] = (
    ExportedMetric(
        "otelperf.operation.duration",
        "exponential_histogram",
        "s",
        "otelperf",
        "otelperf_operation_duration_seconds",
        ("operation", "span_kind"),
    ),
    ExportedMetric(
        "otelperf.dropped", "counter", "{item}", "otelperf", "otelperf_dropped_total", ("reason",)
    ),
    # 0 ok, 1 warning, 2 error, 3 critical, 4 insufficient_data (DESIGN.md section 5).
    ExportedMetric(
        "otelperf.budget.state",
        "gauge",
        "",
        "otelperf",
        "otelperf_budget_state",
        ("budget", "operation"),
    ),
    ExportedMetric(
        "otelperf.budget.breaches",
        "counter",
        "{breach}",
        "otelperf",
        "otelperf_budget_breaches_total",
        ("budget", "operation", "state"),
    ),
    ExportedMetric(
        "otelperf.slo.burn_rate",
        "gauge",
        "1",
        "otelperf",
        "otelperf_slo_burn_rate_ratio",
        ("budget", "operation", "window"),
    ),
    ExportedMetric(
        "otelperf.memory.growth_rate",
        "gauge",
        "By/h",
        "otelperf",
        "otelperf_memory_growth_rate_bytes_per_hour",
    ),
    ExportedMetric("otelperf.leak.suspected", "gauge", "", "otelperf", "otelperf_leak_suspected"),
    ExportedMetric(
        "process.memory.usage", "updowncounter", "By", "otelperf", "process_memory_usage_bytes"
    ),
    ExportedMetric(
        "process.memory.virtual", "updowncounter", "By", "otelperf", "process_memory_virtual_bytes"
    ),
    ExportedMetric(
        "otelperf.spans.unfinished",
        "gauge",
        "{span}",
        "otelperf",
        "otelperf_spans_unfinished",
        ("span_name",),
    ),
    ExportedMetric(
        "otelperf.sampling.decisions",
        "counter",
        "{trace}",
        "otelperf",
        "otelperf_sampling_decisions_total",
        ("kept", "reason"),
    ),
    ExportedMetric(
        "traces.span.metrics.calls",
        "counter",
        "",
        "span_metrics",
        "traces_span_metrics_calls_total",
        ("service_name", "span_name", "span_kind", "status_code", "collector_instance_id"),
    ),
    ExportedMetric(
        "traces.span.metrics.duration",
        "exponential_histogram",
        "s",
        "span_metrics",
        "traces_span_metrics_duration_seconds",
        ("service_name", "span_name", "span_kind", "status_code", "collector_instance_id"),
    ),
)

KNOWN_PROMETHEUS_NAMES = frozenset(m.prometheus_name for m in EXPORTED_METRICS)
"""Every series name a dashboard may query."""


def prometheus_name(otel_name: str, unit: str, kind: MetricKind) -> str:
    """Return the name Prometheus stores for an OTLP metric (``UnderscoreEscapingWithSuffixes``).

    Rules (Prometheus OTLP translator, OTel "Prometheus and OpenMetrics compatibility" spec): split
    the name on characters outside ``[a-zA-Z0-9:]``; append the unit word (``s`` -> ``seconds``,
    ``By`` -> ``bytes``; ``a/b`` -> ``a_per_b``; ``{...}`` annotations and ``1`` add nothing)
    unless the name already has that word; append ``total`` to counters and ``ratio`` to gauges
    with unit ``1``; join with ``_``; prefix ``_`` if the result starts with a digit.
    """
    tokens = [t for t in _NOT_NAME_CHARS.split(otel_name) if t]
    main, per = _unit_words(unit)
    if per:
        main = main.rstrip("_")
    if main and main not in tokens:
        tokens.append(main)
    if per and per not in tokens:
        tokens.append(per)
    if kind == "counter":
        tokens = [t for t in tokens if t != "total"] + ["total"]
    if kind == "gauge" and unit == "1":
        tokens = [t for t in tokens if t != "ratio"] + ["ratio"]
    name = "_".join(tokens)
    return f"_{name}" if name[:1].isdigit() else name


def _unit_words(unit: str) -> tuple[str, str]:
    """Split a UCUM unit into the main and ``per_...`` suffix words."""
    main_unit, _, per_unit = unit.partition("/")
    main_unit, per_unit = main_unit.strip(), per_unit.strip()
    main = (
        ""
        if not main_unit or "{" in main_unit or "}" in main_unit
        else _UNIT_WORDS.get(main_unit, main_unit)
    )
    per = ""
    if per_unit and "{" not in per_unit and "}" not in per_unit:
        per = "per_" + _PER_UNIT_WORDS.get(per_unit, per_unit)
    return _clean(main), _clean(per).rstrip("_")


def _clean(word: str) -> str:
    """Replace characters invalid in a name with ``_``, collapse repeats, drop a leading ``_``."""
    return re.sub(r"_+", "_", re.sub(r"[^a-zA-Z0-9:]", "_", word)).lstrip("_")

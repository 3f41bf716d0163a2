"""Build span and metric exporters by entry-point name, the way the OTel SDK configurator does.

Names are looked up in the standard entry-point groups ``opentelemetry_traces_exporter`` and
``opentelemetry_metrics_exporter``, so any exporter package a user installs (including ours for
Sentry, Datadog and New Relic) works with ``exporters=[...]`` and ``OTEL_TRACES_EXPORTER``.
``otlp`` means ``otlp_proto_grpc`` or ``otlp_proto_http`` per ``OTEL_EXPORTER_OTLP_PROTOCOL``.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import Literal

from opentelemetry.sdk.metrics.export import MetricExporter
from opentelemetry.sdk.trace.export import SpanExporter

from otelperf._errors import ConfigError

__all__ = ["metric_exporter_names", "metric_exporters", "span_exporters"]

Signal = Literal["traces", "metrics"]

_PROTOCOLS = {"grpc": "otlp_proto_grpc", "http/protobuf": "otlp_proto_http"}


def _entry_point_name(name: str, signal: Signal, environ: Mapping[str, str]) -> str:
    if name != "otlp":
        return name
    # The per-signal variable wins over the general one (OTLP exporter spec).
    for var in (f"OTEL_EXPORTER_OTLP_{signal.upper()}_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"):
        if value := environ.get(var, "").strip():
            if value not in _PROTOCOLS:
                raise ConfigError(f"{var}={value!r}: expected one of {', '.join(_PROTOCOLS)}")
            return _PROTOCOLS[value]
    return _PROTOCOLS["grpc"]


def _load(name: str, signal: Signal, environ: Mapping[str, str]) -> object | None:
    wanted = _entry_point_name(name, signal, environ)
    for ep in entry_points(group=f"opentelemetry_{signal}_exporter"):
        if ep.name == wanted:
            exporter: object = ep.load()()
            return exporter
    return None


def span_exporters(names: tuple[str, ...], environ: Mapping[str, str]) -> list[SpanExporter]:
    """Instantiate one span exporter per name (they read their own ``OTEL_EXPORTER_*`` settings)."""
    found = [_load(name, "traces", environ) for name in names]
    return [exporter for exporter in found if isinstance(exporter, SpanExporter)]


def metric_exporter_names(
    names: tuple[str, ...], *, names_given: bool, environ: Mapping[str, str]
) -> tuple[str, ...]:
    """Pick metric exporter names: ``names``, unless only the standard variables configure us.

    When the user set neither ``exporters=`` nor ``OTELPERF_EXPORTERS``, a standard
    ``OTEL_METRICS_EXPORTER`` is honoured for metrics (as the SDK configurator does).
    """
    raw = environ.get("OTEL_METRICS_EXPORTER", "").strip()
    if names_given or not raw:
        return names
    return () if raw == "none" else tuple(part.strip() for part in raw.split(",") if part.strip())


def metric_exporters(names: tuple[str, ...], environ: Mapping[str, str]) -> list[MetricExporter]:
    """Instantiate the metric exporter of each name that has one (traces-only names are skipped)."""
    found = [_load(name, "metrics", environ) for name in names]
    return [exporter for exporter in found if isinstance(exporter, MetricExporter)]

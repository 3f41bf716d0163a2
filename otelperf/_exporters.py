"""Build span and metric exporters by entry-point name, the way the OTel SDK configurator does.

Names are looked up in the standard entry-point groups ``opentelemetry_traces_exporter`` and
``opentelemetry_metrics_exporter``, so any exporter package a user installs (including ours for
Sentry, Datadog and New Relic) works with ``exporters=[...]`` and ``OTEL_TRACES_EXPORTER``.
``otlp`` means ``otlp_proto_grpc`` or ``otlp_proto_http`` per ``OTEL_EXPORTER_OTLP_PROTOCOL``.

With an ``otlp_preset`` (``sentry``, ``newrelic``: see :mod:`otelperf._otlp_presets`), ``otlp``
is OTLP/HTTP built with the endpoint, headers, compression and timeout resolved from the
environment plus the preset, since the SDK's exporters would read only ``os.environ``.
Vendor exporters (``sentry``, ``datadog``, ``newrelic``) raise ``ConfigError`` when their extra
or key is missing.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import Any, Literal, NamedTuple

from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.sdk.metrics import (
    Counter,
    Histogram,
    ObservableCounter,
    ObservableGauge,
    ObservableUpDownCounter,
    UpDownCounter,
)
from opentelemetry.sdk.metrics.export import AggregationTemporality, MetricExporter
from opentelemetry.sdk.metrics.view import (
    Aggregation,
    ExplicitBucketHistogramAggregation,
    ExponentialBucketHistogramAggregation,
)
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.util.re import parse_env_headers

from otelperf._errors import ConfigError
from otelperf._otlp_presets import with_otlp_preset

__all__ = [
    "MadeMetricExporter",
    "grpc_compression",
    "metric_exporter_names",
    "metric_exporters",
    "otlp_http_kwargs",
    "otlp_metric_preferences",
    "span_exporters",
]

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


def _load(
    name: str, signal: Signal, environ: Mapping[str, str], otlp_preset: str | None = None
) -> object | None:
    wanted = _entry_point_name(name, signal, environ)
    for ep in entry_points(group=f"opentelemetry_{signal}_exporter"):
        if ep.name == wanted:
            factory = ep.load()
            kwargs: dict[str, Any] = {}
            if otlp_preset and wanted == _PROTOCOLS["http/protobuf"]:
                kwargs = otlp_http_kwargs(signal, environ)
            if wanted == _PROTOCOLS["grpc"]:
                kwargs["compression"] = grpc_compression(signal, environ)
            if signal == "metrics" and wanted in _PROTOCOLS.values():
                # The OTLP exporter would read these variables from os.environ only; a preset
                # (New Relic: delta, exponential) or a given environ must reach it too.
                temporality, aggregation = otlp_metric_preferences(environ)
                kwargs["preferred_temporality"] = temporality
                kwargs["preferred_aggregation"] = aggregation
            exporter: object = factory(**kwargs)
            return exporter
    return None


def grpc_compression(signal: Signal, environ: Mapping[str, str]) -> Any:
    """The ``grpc.Compression`` the OTLP compression variables ask for (per-signal first).

    Given to the SDK's gRPC exporters explicitly, because they refuse the specification's
    ``none`` (and an empty value) when they read the variable themselves. Values were checked
    by :mod:`otelperf._wiring.otlp_env`: only ``gzip`` compresses.
    """
    import grpc  # the gRPC exporter's own dependency, present whenever it is loaded

    for var in (
        f"OTEL_EXPORTER_OTLP_{signal.upper()}_COMPRESSION",
        "OTEL_EXPORTER_OTLP_COMPRESSION",
    ):
        if value := environ.get(var, "").strip().lower():
            return grpc.Compression.Gzip if value == "gzip" else grpc.Compression.NoCompression
    return grpc.Compression.NoCompression


_DELTA_KINDS = {
    "cumulative": (),
    "delta": (Counter, Histogram, ObservableCounter),
    "lowmemory": (Counter, Histogram),
}


def otlp_metric_preferences(
    environ: Mapping[str, str],
) -> tuple[dict[type, AggregationTemporality], dict[type, Aggregation]]:
    """Temporality and histogram aggregation the standard OTLP variables ask for.

    Mirrors the OTLP exporter specification (and the SDK's OTLP exporters) for
    ``OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`` (cumulative, delta, lowmemory;
    anything else is cumulative) and ``OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION``.
    """
    choice = environ.get("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "").strip().lower()
    delta_kinds = _DELTA_KINDS.get(choice, ())
    kinds: tuple[type, ...] = (
        Counter,
        UpDownCounter,
        Histogram,
        ObservableCounter,
        ObservableUpDownCounter,
        ObservableGauge,
    )
    temporality: dict[type, AggregationTemporality] = {
        kind: AggregationTemporality.DELTA
        if kind in delta_kinds
        else AggregationTemporality.CUMULATIVE
        for kind in kinds
    }
    histogram = environ.get("OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION", "").strip()
    aggregation: Aggregation = (
        ExponentialBucketHistogramAggregation()
        if histogram == "base2_exponential_bucket_histogram"
        else ExplicitBucketHistogramAggregation()
    )
    return temporality, {Histogram: aggregation}


def otlp_http_kwargs(signal: Signal, environ: Mapping[str, str]) -> dict[str, Any]:
    """Constructor arguments of an OTLP/HTTP exporter, resolved from ``environ``.

    Follows the OTLP exporter specification: the per-signal variable wins over the general
    one; a general endpoint gets ``/v1/<signal>`` appended; headers are percent-decoded
    ``key=value`` pairs; the timeout is in seconds (the Python SDK's unit).
    """

    def pick(suffix: str) -> tuple[str, str]:
        """The first variable set (per-signal, then general) and its value; ("", "") if none."""
        for var in (
            f"OTEL_EXPORTER_OTLP_{signal.upper()}_{suffix}",
            f"OTEL_EXPORTER_OTLP_{suffix}",
        ):
            if value := environ.get(var, "").strip():
                return var, value
        return "", ""

    endpoint = environ.get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT", "").strip()
    if not endpoint:
        base = environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip() or "http://localhost:4318"
        endpoint = f"{base.rstrip('/')}/v1/{signal}"
    compression_var, compression = pick("COMPRESSION")
    try:
        chosen = Compression(compression.lower() or "none")
    except ValueError:
        raise ConfigError(
            f"{compression_var}={compression!r}: expected gzip, deflate or none"
        ) from None
    kwargs: dict[str, Any] = {
        "endpoint": endpoint,
        "headers": parse_env_headers(pick("HEADERS")[1], liberal=True),
        "compression": chosen,
    }
    timeout_var, timeout = pick("TIMEOUT")
    if timeout:
        try:
            kwargs["timeout"] = float(timeout)
        except ValueError:
            raise ConfigError(f"{timeout_var}={timeout!r}: expected seconds") from None
    return kwargs


def span_exporters(
    names: tuple[str, ...], environ: Mapping[str, str], *, otlp_preset: str | None = None
) -> list[SpanExporter]:
    """Instantiate one span exporter per name (they read their own ``OTEL_EXPORTER_*`` settings).

    Names without a span exporter (``datadog`` sends only metrics) are skipped.

    Raises:
        ConfigError: A vendor exporter lacks its extra or key, or the preset is unusable.
    """
    environ = with_otlp_preset(otlp_preset, environ)
    found = [_load(name, "traces", environ, otlp_preset) for name in names]
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


class MadeMetricExporter(NamedTuple):
    """A metric exporter and the preferences it was built with (for otelperf's wrapper)."""

    exporter: MetricExporter
    temporality: dict[type, AggregationTemporality] | None
    aggregation: dict[type, Aggregation] | None


def metric_exporters(
    names: tuple[str, ...], environ: Mapping[str, str], *, otlp_preset: str | None = None
) -> list[MadeMetricExporter]:
    """Instantiate the metric exporter of each name that has one (traces-only names are skipped).

    Each comes with the temporality and aggregation it was built to prefer: for the OTLP
    exporters what the standard variables ask for (:func:`otlp_metric_preferences`), for others
    their public ``preferred_temporality`` attribute if they state one, else None (the SDK's
    defaults).

    Raises:
        ConfigError: A vendor exporter lacks its extra or key, or the preset is unusable.
    """
    if otlp_preset == "sentry":
        otlp_preset = None  # Sentry takes no OTLP metrics: they go where the user says
    environ = with_otlp_preset(otlp_preset, environ)
    made = []
    for name in names:
        exporter = _load(name, "metrics", environ, otlp_preset)
        if not isinstance(exporter, MetricExporter):
            continue
        if _entry_point_name(name, "metrics", environ) in _PROTOCOLS.values():
            made.append(MadeMetricExporter(exporter, *otlp_metric_preferences(environ)))
        else:
            stated = getattr(exporter, "preferred_temporality", None)
            stated_temporality = dict(stated) if isinstance(stated, Mapping) else None
            made.append(MadeMetricExporter(exporter, stated_temporality, None))
    return made

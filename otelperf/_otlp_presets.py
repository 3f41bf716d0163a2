"""``otlp_preset``: a vendor's own OTLP intake in one word, without the vendor's SDK.

* ``sentry`` — traces to the DSN's ``/api/<project>/integration/otlp/v1/traces/`` with the
  ``X-Sentry-Auth`` header (``SENTRY_DSN``). Sentry takes no OTLP metrics: metrics keep going
  where ``OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_ENDPOINT`` say.
* ``newrelic`` — traces and metrics to ``https://otlp.nr-data.net`` (``otlp.eu01.nr-data.net``
  for ``NEW_RELIC_REGION=eu``) with the ``api-key`` header (``NEW_RELIC_LICENSE_KEY``), gzip,
  delta temporality and base-2 exponential histograms, as New Relic documents.

A preset only fills in the standard ``OTEL_EXPORTER_OTLP_*`` variables the user left unset
(headers are merged, the user's winning per header), and selects OTLP/HTTP with protobuf. The
result is an environment mapping: the OTLP/HTTP exporters are then built from it explicitly,
because the SDK's exporters read only ``os.environ`` and otelperf never writes to it.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from importlib.metadata import version

from opentelemetry.util.re import parse_env_headers

from otelperf._errors import ConfigError
from otelperf.exporters._sentry_map import otlp_traces_target

__all__ = ["PRESETS", "otlp_preset_env", "with_otlp_preset"]

PRESETS = ("sentry", "newrelic")
"""Accepted ``otlp_preset`` values."""

_NEWRELIC_ENDPOINTS = {"us": "https://otlp.nr-data.net", "eu": "https://otlp.eu01.nr-data.net"}
_HTTP = "http/protobuf"


def _header(name: str, value: str) -> str:
    # OTEL_EXPORTER_OTLP_*_HEADERS values are percent-encoded (OTLP exporter spec).
    return f"{name}={urllib.parse.quote(value, safe='')}"


def otlp_preset_env(name: str, environ: Mapping[str, str]) -> dict[str, str]:
    """Return the ``OTEL_EXPORTER_OTLP_*`` variables preset ``name`` stands for.

    Args:
        name: ``sentry`` or ``newrelic``.
        environ: Where the vendor's own variables are read (``SENTRY_DSN``,
            ``NEW_RELIC_LICENSE_KEY``, ``NEW_RELIC_REGION``).

    Raises:
        ConfigError: Unknown preset, or the vendor's variable is missing or malformed. The
            message names the variable, never its value (it is a secret).
    """
    if name == "sentry":
        dsn = environ.get("SENTRY_DSN", "").strip()
        if not dsn:
            raise ConfigError("otlp_preset='sentry' needs SENTRY_DSN (your project's DSN)")
        url, headers = otlp_traces_target(
            dsn, origin="SENTRY_DSN", client=f"otelperf/{version('otelperf')}"
        )
        return {
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": url,
            "OTEL_EXPORTER_OTLP_TRACES_HEADERS": _header("x-sentry-auth", headers["X-Sentry-Auth"]),
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": _HTTP,
        }
    if name == "newrelic":
        key = environ.get("NEW_RELIC_LICENSE_KEY", "").strip()
        if not key:
            raise ConfigError("otlp_preset='newrelic' needs NEW_RELIC_LICENSE_KEY")
        region = environ.get("NEW_RELIC_REGION", "").strip().lower() or "us"
        if region not in _NEWRELIC_ENDPOINTS:
            raise ConfigError(f"NEW_RELIC_REGION={region!r}: expected us or eu")
        return {
            "OTEL_EXPORTER_OTLP_ENDPOINT": _NEWRELIC_ENDPOINTS[region],
            "OTEL_EXPORTER_OTLP_HEADERS": _header("api-key", key),
            "OTEL_EXPORTER_OTLP_PROTOCOL": _HTTP,
            "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
            "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": "delta",
            "OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION": (
                "base2_exponential_bucket_histogram"
            ),
        }
    raise ConfigError(f"otlp_preset={name!r}: expected one of {', '.join(PRESETS)}")


def with_otlp_preset(name: str | None, environ: Mapping[str, str]) -> Mapping[str, str]:
    """Return ``environ`` with preset ``name``'s variables filled in where unset.

    ``*_HEADERS`` are merged (the user's value wins for a header both set). With ``name``
    None, ``environ`` itself is returned.

    Raises:
        ConfigError: As :func:`otlp_preset_env`, or the environment asks for OTLP/gRPC for a
            signal the preset sends (a preset speaks OTLP/HTTP).
    """
    if not name:
        return environ
    preset = otlp_preset_env(name, environ)
    merged = dict(environ)
    for var, value in preset.items():
        given = environ.get(var, "").strip()
        if var.endswith("_HEADERS") and given:
            headers = dict(parse_env_headers(value, liberal=True))
            headers.update(parse_env_headers(given, liberal=True))
            merged[var] = ",".join(_header(k, v) for k, v in headers.items())
        elif not given:
            merged[var] = value
    for signal in ("TRACES", "METRICS") if name == "newrelic" else ("TRACES",):
        for var in (f"OTEL_EXPORTER_OTLP_{signal}_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"):
            chosen = merged.get(var, "").strip()
            if chosen and chosen != _HTTP:
                raise ConfigError(
                    f"{var}={chosen!r}: otlp_preset={name!r} sends OTLP/HTTP; expected "
                    f"{_HTTP!r} or unset"
                )
            if chosen:
                break
    return merged

"""Pure mapping for Sentry: the DSN's OTLP endpoint and auth header, and alerts as events.

Sentry ingests OpenTelemetry traces over OTLP/HTTP at ``<dsn base>/api/<project>/integration/
otlp/v1/traces/`` with an ``X-Sentry-Auth`` header (what sentry-sdk's ``OTLPIntegration``
configures). :func:`otlp_traces_target` computes both without sentry-sdk, for
``otlp_preset="sentry"``; the Sentry exporter uses the SDK's own ``Dsn`` for the same values.

Alerts become Sentry error events: one issue per budget (or leak) thanks to a fingerprint made
of the alert's stable :attr:`~otelperf.alerts.Alert.fingerprint`, with tags for search.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

from otelperf._errors import ConfigError
from otelperf.alerts import Alert

__all__ = ["LEVELS", "OTLP_TRACES_PATH", "otlp_traces_target", "to_sentry_event"]

OTLP_TRACES_PATH = "integration/otlp/v1/traces/"
"""Path after ``/api/<project>/`` of Sentry's OTLP traces endpoint."""

LEVELS = {"warning": "warning", "error": "error", "critical": "fatal", "resolved": "info"}
"""Sentry event level of each alert severity."""

DSN_EXPECTED = "expected a Sentry DSN such as https://<public key>@o0.ingest.sentry.io/<project id>"

# Sentry truncates or rejects longer tags: keys up to 32 characters, values up to 200.
_MAX_TAG_KEY, _MAX_TAG_VALUE = 32, 200


def otlp_traces_target(dsn: str, *, origin: str, client: str) -> tuple[str, dict[str, str]]:
    """Return Sentry's OTLP traces URL and headers for ``dsn``.

    Args:
        dsn: ``<scheme>://<public key>[:<secret>]@<host>[:<port>][/<path>]/<project id>``.
        origin: Where the DSN came from, for the error (``SENTRY_DSN``). The DSN itself is
            never shown: it holds the key.
        client: ``sentry_client`` value of the auth header (``otelperf/0.1.0``).

    Raises:
        ConfigError: The DSN does not parse.
    """
    try:
        parts = urllib.parse.urlsplit(dsn.strip())
        port = parts.port
    except (AttributeError, ValueError):
        raise ConfigError(f"{origin}: {DSN_EXPECTED}") from None
    path, _, project = parts.path.rstrip("/").rpartition("/")
    if parts.scheme not in ("http", "https") or not parts.hostname or not parts.username:
        raise ConfigError(f"{origin}: {DSN_EXPECTED}")
    if not project.isdigit():
        raise ConfigError(f"{origin}: {DSN_EXPECTED} (the project id is missing)")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    netloc = host if port is None else f"{host}:{port}"
    url = f"{parts.scheme}://{netloc}{path}/api/{project}/{OTLP_TRACES_PATH}"
    auth = f"Sentry sentry_key={parts.username}, sentry_version=7, sentry_client={client}"
    if parts.password:
        auth += f", sentry_secret={parts.password}"
    return url, {"X-Sentry-Auth": auth}


def _tag(value: object) -> str:
    return " ".join(str(value).split())[:_MAX_TAG_VALUE]


def to_sentry_event(alert: Alert) -> dict[str, Any]:
    """Map an alert to a Sentry event (the dict ``sentry_sdk.Client.capture_event`` takes).

    * ``fingerprint`` — ``["otelperf", <alert fingerprint>]``: every state change of one budget
      and operation (or one leak) lands in the same Sentry issue.
    * ``level`` — warning, error, or fatal for critical.
    * ``tags`` — ``service``, ``operation``, ``budget``, ``severity``, ``otelperf.kind``,
      ``statistic`` (one line, at most 200 characters each).
    * ``contexts.otelperf`` — the full alert (:meth:`~otelperf.alerts.Alert.to_dict`).
    * ``release``/``environment`` — from ``service.version`` and ``deployment.environment``.
    """
    tags = {"service": _tag(alert.service), "severity": alert.severity.value}
    tags["otelperf.kind"] = alert.kind.value
    for key, value in (
        ("operation", alert.operation),
        ("budget", alert.budget),
        ("statistic", alert.statistic),
    ):
        if value:
            tags[key[:_MAX_TAG_KEY]] = _tag(value)
    record = alert.to_dict()
    context = {k: v for k, v in record.items() if v is not None and k not in ("schema", "message")}
    event: dict[str, Any] = {
        "message": alert.message,
        "level": LEVELS[alert.severity.value],
        "logger": "otelperf.alerts",
        "fingerprint": ["otelperf", alert.fingerprint],
        "tags": tags,
        "contexts": {"otelperf": context},
        "timestamp": record["time"],
    }
    resource = alert.resource
    if version := resource.get("service.version"):
        event["release"] = str(version)
    environment = resource.get("deployment.environment.name") or resource.get(
        "deployment.environment"
    )
    if environment:
        event["environment"] = str(environment)
    if host := resource.get("host.name"):
        event["server_name"] = str(host)
    return event

"""Sentry through ``sentry-sdk``: spans over Sentry's OTLP intake, alerts as issues.

* :class:`SentrySpanExporter` (entry point ``sentry``: ``OTEL_TRACES_EXPORTER=otlp,sentry``) —
  the mechanism sentry-sdk 2.x supports for OpenTelemetry, ``OTLPIntegration``: OTLP/HTTP to
  the DSN's ``/api/<project>/integration/otlp/v1/traces/`` with ``X-Sentry-Auth``, both taken
  from the SDK's own ``Dsn``. It is an exporter rather than the integration itself because the
  integration also replaces the global tracer provider's processors, the global propagator, and
  patches ``Span.record_exception`` (DESIGN §9 forbids global patching); the deprecated
  ``SentrySpanProcessor`` would run Sentry code on the request thread for every span.
* :class:`SentryAlertSink` — ``alerts="sentry"``: one Sentry issue per budget or leak (the
  event fingerprint is the alert's), tagged with service, operation, budget and severity.
  It uses a private ``sentry_sdk.Client``: the application's own ``sentry_sdk.init`` (if any)
  is neither needed nor touched.

The DSN comes from ``SENTRY_DSN`` (Sentry's own variable) or ``dsn=``; it is never logged.
Sentry has no OTLP metrics intake: metrics go elsewhere (Datadog, New Relic, a Collector).
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from otelperf._errors import ConfigError
from otelperf._safety import suppressed
from otelperf.alerts import Alert, AlertSeverity
from otelperf.exporters._delivery import Drops
from otelperf.exporters._sentry_map import DSN_EXPECTED, to_sentry_event

__all__ = ["SentryAlertSink", "SentryDeliveryError", "SentrySpanExporter"]

ENV_DSN = "SENTRY_DSN"


class SentryDeliveryError(Exception):
    """Sentry did not confirm an alert event; the message never contains the DSN."""


def _dsn(what: str, dsn: str | None, environ: Mapping[str, str]) -> str:
    try:
        import sentry_sdk  # noqa: F401
    except ImportError:
        raise ConfigError(f"{what} 'sentry' needs: pip install 'otelperf[sentry]'") from None
    found = (dsn or environ.get(ENV_DSN, "")).strip()
    if not found:
        raise ConfigError(f"{what} 'sentry' needs a DSN: set {ENV_DSN} (or pass dsn=)")
    from sentry_sdk.utils import BadDsn, Dsn

    try:
        Dsn(found)
    except (BadDsn, ValueError):
        raise ConfigError(f"{ENV_DSN if dsn is None else 'dsn'}: {DSN_EXPECTED}") from None
    return found


class SentrySpanExporter(SpanExporter):
    """Send spans to Sentry's OTLP traces endpoint for the DSN (see the module docstring).

    Delegates to the OTel SDK's OTLP/HTTP span exporter, which retries 429/5xx and network
    errors with backoff (honouring ``Retry-After``) within ``timeout_s``. ``export`` runs on the
    batch processor's thread inside ``suppressed()``, never raises, and returns FAILURE when
    the batch was not accepted; dropped spans are counted in :attr:`drops`.
    """

    def __init__(
        self,
        *,
        dsn: str | None = None,
        timeout_s: float = 10.0,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        """Derive the endpoint and auth header from the DSN; no request is made.

        Args:
            dsn: Sentry DSN; default ``SENTRY_DSN``.
            timeout_s: Deadline of one export, retries included.
            environ: Where ``SENTRY_DSN`` is read (default ``os.environ``).

        Raises:
            ConfigError: The extra is not installed, or the DSN is missing or malformed.
        """
        found = _dsn("exporter", dsn, os.environ if environ is None else environ)
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from sentry_sdk.consts import VERSION, EndpointType
        from sentry_sdk.utils import Dsn

        auth = Dsn(found).to_auth(f"sentry.python/{VERSION}")
        self.endpoint = auth.get_api_url(EndpointType.OTLP_TRACES)
        """The OTLP traces URL (no secret in it: the key travels in ``X-Sentry-Auth``)."""
        self._inner = OTLPSpanExporter(
            endpoint=self.endpoint, headers={"X-Sentry-Auth": auth.to_header()}, timeout=timeout_s
        )
        self.drops = Drops()
        self._shutdown = False

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Send the spans; FAILURE (never an exception) if Sentry did not accept them."""
        if self._shutdown:
            return SpanExportResult.FAILURE
        try:
            with suppressed():
                result = self._inner.export(spans)
        except Exception:
            result = SpanExportResult.FAILURE
        if result is not SpanExportResult.SUCCESS:
            self.drops.add("export_failed", len(spans))
        return result

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Nothing is buffered here: True."""
        return True

    def shutdown(self) -> None:
        """Stop: later exports return FAILURE; a retry wait in progress ends. Idempotent."""
        if not self._shutdown:
            self._shutdown = True
            self._inner.shutdown()  # type: ignore[no-untyped-call]  # the SDK's is unannotated


class SentryAlertSink:
    """``alerts="sentry"``: capture each alert as a Sentry event, grouped into one issue.

    ``send`` runs on the alert dispatcher's thread: it hands the event to the private client's
    transport and waits (at most ``timeout_s``) until it was sent, raising
    :class:`SentryDeliveryError` when Sentry's transport dropped it (HTTP error, network error,
    rate limit: sentry-sdk never retries and, after a 429, stays silent for ``Retry-After``
    seconds, as Sentry requires). ``resolved`` alerts are not sent unless ``send_resolved``:
    an event would re-open the issue, and Sentry resolves issues by inactivity.
    """

    name = "sentry"

    def __init__(
        self,
        *,
        dsn: str | None = None,
        timeout_s: float = 10.0,
        send_resolved: bool = False,
        environ: Mapping[str, str] | None = None,
        client_options: Mapping[str, Any] | None = None,
    ) -> None:
        """Build the private Sentry client; no request is made.

        Args:
            dsn: Sentry DSN; default ``SENTRY_DSN``.
            timeout_s: How long ``send`` waits for the transport (and its socket timeout).
            send_resolved: Also send ``resolved`` alerts (as ``info`` events in the issue).
            environ: Where ``SENTRY_DSN`` is read (default ``os.environ``).
            client_options: Extra ``sentry_sdk.Client`` options (``environment``,
                ``release``, ``_experiments``, ...).

        Raises:
            ConfigError: The extra is not installed, or the DSN is missing or malformed.
        """
        found = _dsn("alert sink", dsn, os.environ if environ is None else environ)
        import sentry_sdk

        self._timeout_s = timeout_s
        self._send_resolved = send_resolved
        self.drops = Drops()
        options: dict[str, Any] = {
            "default_integrations": False,
            "auto_enabling_integrations": False,
            "integrations": [],
            "transport": _transport_class(timeout_s, self.drops),
        }
        options.update(client_options or {})
        self._client = sentry_sdk.Client(dsn=found, **options)
        self._lock = threading.Lock()  # one capture + flush at a time (drops are compared)

    def send(self, alert: Alert) -> None:
        """Capture the alert and wait until it was sent, or raise :class:`SentryDeliveryError`."""
        if alert.severity is AlertSeverity.RESOLVED and not self._send_resolved:
            return
        import sentry_sdk

        with self._lock, suppressed():
            before = self.drops.total
            event: Any = to_sentry_event(
                alert
            )  # a plain dict is what the Event TypedDict describes
            event_id = self._client.capture_event(event, scope=sentry_sdk.Scope())
            if event_id is None:
                self.drops.add("discarded")
                raise SentryDeliveryError("Sentry's client discarded the alert event")
            started = time.monotonic()
            self._client.flush(timeout=self._timeout_s)
            if self.drops.total > before:
                raise SentryDeliveryError(
                    f"Sentry's transport dropped the alert event ({_last(self.drops)})"
                )
            # flush() returns early only once the queue is empty; returning at the timeout
            # means the request is still in flight (a stalled server): not confirmed.
            if time.monotonic() - started >= self._timeout_s * 0.98:
                self.drops.add("timeout")
                raise SentryDeliveryError(
                    f"Sentry did not answer within {self._timeout_s:g} s; the event may be lost"
                )

    def close(self) -> None:
        """Flush (bounded by ``timeout_s``) and close the private client. Idempotent."""
        self._client.close(timeout=self._timeout_s)


def _last(drops: Drops) -> str:
    return ", ".join(f"{reason}: {n}" for reason, n in sorted(drops.counts().items()))


def _transport_class(timeout_s: float, drops: Drops) -> type:
    """sentry-sdk's own HTTP transport, counting what it drops and with our socket timeout."""
    from sentry_sdk.transport import HttpTransport

    class CountingTransport(HttpTransport):
        TIMEOUT = max(1, math.ceil(timeout_s))  # urllib3 total timeout per request, seconds

        def on_dropped_event(self, reason: str) -> None:
            # Called once per envelope the transport gave up on: HTTP error, network error,
            # 429, rate-limit backoff (self_rate_limits), full queue. Client-report envelopes
            # that fail count too: they say the same endpoint is failing.
            drops.add(reason)
            super().on_dropped_event(reason)

    return CountingTransport

"""New Relic through ``newrelic-telemetry-sdk``: spans, metrics and alert events.

* :class:`NewRelicSpanExporter` — Trace API (entry point ``newrelic`` in
  ``opentelemetry_traces_exporter``: ``OTEL_TRACES_EXPORTER=otlp,newrelic``).
* :class:`NewRelicMetricExporter` — Metric API (entry point ``newrelic`` for metrics):
  counts, gauges, summaries, and ``otelperf.operation.duration.percentiles`` gauges.
* :class:`NewRelicAlertSink` — ``alerts="newrelic"``: one ``OtelperfAlert`` event per alert
  through the Event API, for NRQL alert conditions.

The mappings are in :mod:`otelperf.exporters._newrelic_map`. New Relic now recommends its
native OTLP endpoint; ``otlp_preset="newrelic"`` takes that route without this SDK (alerts
still need this module).

Settings, as New Relic's agents read them: ``NEW_RELIC_LICENSE_KEY`` (or
``NEW_RELIC_INSERT_KEY``), ``NEW_RELIC_REGION`` (``us`` or ``eu``) and, for alert events,
``NEW_RELIC_ACCOUNT_ID``. The SDK always speaks https, has no timeout and retries nothing: here
every send has a deadline and retries 408/429/5xx and network errors inside it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.sdk.metrics import Counter, Histogram, ObservableCounter
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    MetricExporter,
    MetricExportResult,
    MetricsData,
)
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from otelperf._errors import ConfigError
from otelperf._safety import logger
from otelperf.alerts import Alert
from otelperf.exporters._delivery import Drops, drop_reason
from otelperf.exporters._histograms import DeltaState
from otelperf.exporters._newrelic_client import (
    ENV_INSERT_KEY,
    ENV_LICENSE_KEY,
    ENV_REGION,
    NewRelicClient,
    send_batches,
)
from otelperf.exporters._newrelic_map import (
    to_newrelic_event,
    to_newrelic_metrics,
    to_newrelic_spans,
)

__all__ = [
    "ENV_ACCOUNT_ID",
    "ENV_INSERT_KEY",
    "ENV_LICENSE_KEY",
    "ENV_REGION",
    "NewRelicAlertSink",
    "NewRelicDeliveryError",
    "NewRelicMetricExporter",
    "NewRelicSpanExporter",
]

ENV_ACCOUNT_ID = "NEW_RELIC_ACCOUNT_ID"
_DELTA: dict[type, AggregationTemporality] = {
    kind: AggregationTemporality.DELTA for kind in (Counter, Histogram, ObservableCounter)
}


class NewRelicDeliveryError(Exception):
    """New Relic did not accept an alert event; the message never contains the key."""


def _args(kwargs: dict[str, Any], environ: Mapping[str, str] | None) -> dict[str, Any]:
    kwargs["environ"] = os.environ if environ is None else environ
    return kwargs


class NewRelicSpanExporter(SpanExporter):
    """Send spans to New Relic's Trace API (see the module docstring).

    ``export`` runs on the batch processor's thread, blocks at most ``timeout_s``, never
    raises and returns FAILURE when a batch was not accepted; dropped spans are counted in
    :attr:`drops`.
    """

    def __init__(
        self,
        *,
        key: str | None = None,
        region: str | None = None,
        host: str | None = None,
        port: int = 443,
        ca_certs: str | None = None,
        timeout_s: float = 10.0,
        retries: int = 3,
        backoff_s: float = 0.5,
        max_per_request: int = 1000,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        """Check the settings and build the client; no request is made.

        Args:
            key: License (or insert) key; default ``NEW_RELIC_LICENSE_KEY``, then
                ``NEW_RELIC_INSERT_KEY``.
            region: ``us`` or ``eu``; default ``NEW_RELIC_REGION``, else ``us``.
            host: Host replacing the region's (a proxy, or a test server); always https.
            port: Port of ``host``.
            ca_certs: PEM file of CAs to verify the server with (default: the system's).
            timeout_s: Deadline of one export, retries included.
            retries: Retries of a failed request, at most.
            backoff_s: First wait between retries (doubling, jittered; ``Retry-After`` wins).
            max_per_request: Spans per POST (New Relic takes at most 1 MB per request).
            environ: Where the ``NEW_RELIC_*`` variables are read (default ``os.environ``).

        Raises:
            ConfigError: The extra is not installed, the key is missing or a value is bad.
        """
        self._client = NewRelicClient(
            "span",
            "exporter",
            **_args(
                dict(
                    key=key,
                    region=region,
                    host=host,
                    port=port,
                    ca_certs=ca_certs,
                    timeout_s=timeout_s,
                    retries=retries,
                    backoff_s=backoff_s,
                ),
                environ,
            ),
        )
        self._per_request = max(1, max_per_request)
        self.drops = Drops()
        self._shutdown = False

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Send the spans; FAILURE (never an exception) if any batch was not accepted."""
        if self._shutdown:
            return SpanExportResult.FAILURE
        try:
            batches = to_newrelic_spans(spans)
        except Exception:
            logger.exception("otelperf: New Relic span mapping failed; batch dropped")
            self.drops.add("mapping", len(spans))
            return SpanExportResult.FAILURE
        ok = send_batches(self._client, batches, self._per_request, self.drops, "spans")
        return SpanExportResult.SUCCESS if ok else SpanExportResult.FAILURE

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Nothing is buffered here: True."""
        return True

    def shutdown(self) -> None:
        """Stop: later exports return FAILURE; a retry wait in progress ends. Idempotent."""
        if not self._shutdown:
            self._shutdown = True
            self._client.close()


class NewRelicMetricExporter(MetricExporter):
    """Send metrics to New Relic's Metric API (see the module docstring).

    Same contract as :class:`NewRelicSpanExporter`; prefers delta temporality (New Relic
    counts and summaries are deltas) and converts cumulative input.
    """

    def __init__(
        self,
        *,
        key: str | None = None,
        region: str | None = None,
        host: str | None = None,
        port: int = 443,
        ca_certs: str | None = None,
        timeout_s: float = 10.0,
        retries: int = 3,
        backoff_s: float = 0.5,
        max_per_request: int = 1000,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        """Check the settings (see :class:`NewRelicSpanExporter`).

        Raises:
            ConfigError: The extra is not installed, the key is missing or a value is bad.
        """
        super().__init__(preferred_temporality=_DELTA)
        self.preferred_temporality = dict(_DELTA)  # public: read by otelperf's metric wrapper
        self._client = NewRelicClient(
            "metric",
            "exporter",
            **_args(
                dict(
                    key=key,
                    region=region,
                    host=host,
                    port=port,
                    ca_certs=ca_certs,
                    timeout_s=timeout_s,
                    retries=retries,
                    backoff_s=backoff_s,
                ),
                environ,
            ),
        )
        self._per_request = max(1, max_per_request)
        self._deltas = DeltaState()
        self.drops = Drops()
        self._shutdown = False

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        """Send the metrics; FAILURE (never an exception) if any batch was not accepted."""
        if self._shutdown:
            return MetricExportResult.FAILURE
        try:
            batches = to_newrelic_metrics(metrics_data, deltas=self._deltas)
        except Exception:
            logger.exception("otelperf: New Relic metric mapping failed; batch dropped")
            self.drops.add("mapping")
            return MetricExportResult.FAILURE
        ok = send_batches(
            self._client, batches, self._per_request, self.drops, "metrics", timeout_millis / 1e3
        )
        return MetricExportResult.SUCCESS if ok else MetricExportResult.FAILURE

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        """Nothing is buffered here: True."""
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        """Stop: later exports return FAILURE; a retry wait in progress ends. Idempotent."""
        if not self._shutdown:
            self._shutdown = True
            self._client.close()


class NewRelicAlertSink:
    """``alerts="newrelic"``: post each alert as an ``OtelperfAlert`` event (Event API).

    ``send`` runs on the alert dispatcher's thread, blocks at most ``timeout_s`` and raises
    :class:`NewRelicDeliveryError` when New Relic did not accept the event. Needs
    ``NEW_RELIC_ACCOUNT_ID`` (or ``account_id=``) besides the key.
    """

    name = "newrelic"

    def __init__(
        self,
        *,
        key: str | None = None,
        account_id: str | None = None,
        region: str | None = None,
        host: str | None = None,
        port: int = 443,
        ca_certs: str | None = None,
        timeout_s: float = 10.0,
        retries: int = 3,
        backoff_s: float = 0.5,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        """Check the settings (see :class:`NewRelicSpanExporter`).

        Raises:
            ConfigError: The extra is not installed, or the key or account id is missing.
        """
        env = os.environ if environ is None else environ
        account = (account_id or env.get(ENV_ACCOUNT_ID, "")).strip()
        if not account.isdigit():
            raise ConfigError(
                f"alert sink 'newrelic' needs the New Relic account id (digits): set "
                f"{ENV_ACCOUNT_ID} (or pass account_id=)"
            )
        self._client = NewRelicClient(
            "event",
            "alert sink",
            key=key,
            region=region,
            host=host,
            port=port,
            ca_certs=ca_certs,
            timeout_s=timeout_s,
            retries=retries,
            backoff_s=backoff_s,
            environ=env,
            account_id=account,
        )
        self.drops = Drops()

    def send(self, alert: Alert) -> None:
        """Post the alert as an event, or raise :class:`NewRelicDeliveryError`."""
        event = to_newrelic_event(alert)
        outcome, attempts = self._client.send(
            lambda client, timeout: client.send_batch([event], timeout=timeout), 1e9
        )
        if not outcome.ok:
            self.drops.add(drop_reason(outcome))
            raise NewRelicDeliveryError(
                f"New Relic event not accepted after {attempts} attempt(s): {outcome.problem}"
            )

    def close(self) -> None:
        """Stop retrying and close the connections. Idempotent."""
        self._client.close()

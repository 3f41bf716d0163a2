"""Datadog through ``datadog-api-client``: metrics as series, alerts as events.

* :class:`DatadogMetricExporter` — an OTel ``MetricExporter`` posting ``/api/v2/series``
  (entry point ``datadog``: ``OTEL_METRICS_EXPORTER=datadog`` or ``exporters=[..., "datadog"]``).
  ``otelperf.operation.duration`` arrives as ``.count``/``.sum``/``.min``/``.max`` and a
  ``.quantile`` gauge per quantile; see :mod:`otelperf.exporters._datadog_map`.
* :class:`DatadogAlertSink` — ``alerts="datadog"``: one v2 alert event per alert, grouped by
  the alert's fingerprint (``aggregation_key``), ``status: ok`` when resolved.

Traces do not go through this client (its API has no span intake): send them with OTLP to the
Datadog Agent (``otlp_config`` receiver, ports 4317/4318) — ``exporters=otlp`` with
``OTEL_EXPORTER_OTLP_ENDPOINT`` pointing at the Agent.

Settings: ``DD_API_KEY`` (required) and ``DD_SITE`` (default ``datadoghq.com``), ``DD_TAGS``
(``key:value`` tags added to everything), as the Datadog Agent reads them. The client has no
default timeout and retries nothing by default; here every send has a deadline
(``timeout_s``) and retries 408/429/5xx and network errors inside it.
"""

from __future__ import annotations

import functools
import os
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.sdk.metrics import Counter, Histogram, ObservableCounter
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    MetricExporter,
    MetricExportResult,
    MetricsData,
)

from otelperf._errors import ConfigError
from otelperf._safety import logger
from otelperf.alerts import Alert
from otelperf.exporters._datadog_api import (
    ENV_API_KEY,
    ENV_SITE,
    DatadogApi,
    post_event,
    submit_series,
)
from otelperf.exporters._datadog_map import to_datadog_event, to_datadog_series
from otelperf.exporters._delivery import Drops, drop_reason
from otelperf.exporters._histograms import DeltaState

__all__ = [
    "ENV_API_KEY",
    "ENV_SITE",
    "ENV_TAGS",
    "DatadogAlertSink",
    "DatadogDeliveryError",
    "DatadogMetricExporter",
]

ENV_TAGS = "DD_TAGS"
_ENCODINGS = ("gzip", "deflate", "zstd1", "none")
_DELTA: dict[type, AggregationTemporality] = {
    kind: AggregationTemporality.DELTA for kind in (Counter, Histogram, ObservableCounter)
}


class DatadogDeliveryError(Exception):
    """Datadog did not accept an alert event; the message never contains the API key."""


class DatadogMetricExporter(MetricExporter):
    """Post each metric export to Datadog's ``/api/v2/series`` (see the module docstring).

    ``export`` runs on the metric reader's thread, blocks at most ``timeout_s`` (or the
    reader's ``timeout_millis`` if shorter), never raises, and returns FAILURE when any part of
    the batch was not accepted; the series dropped are counted in :attr:`drops` by reason.
    Prefers delta temporality (what Datadog counts are); cumulative input is converted.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        site: str | None = None,
        host: str | None = None,
        tags: Sequence[str] | None = None,
        compression: str = "gzip",
        timeout_s: float = 10.0,
        retries: int = 3,
        backoff_s: float = 0.5,
        max_series_per_request: int = 1000,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        """Check the settings and build the client; no request is made.

        Args:
            api_key: Datadog API key; default ``DD_API_KEY``.
            site: Datadog site (``datadoghq.eu``, ``us5.datadoghq.com``, ...); default
                ``DD_SITE``, else ``datadoghq.com``.
            host: Base URL replacing the site's (a proxy, or a test server).
            tags: ``key:value`` tags for every series; default ``DD_TAGS`` (space/comma list).
            compression: Request body encoding: gzip, deflate, zstd1 or none.
            timeout_s: Deadline of one export, retries included.
            retries: Retries of a failed request, at most.
            backoff_s: First wait between retries (doubling, jittered; ``Retry-After`` wins).
            max_series_per_request: Series per POST (Datadog takes at most 500 KB per request).
            environ: Where the ``DD_*`` variables are read (default ``os.environ``).

        Raises:
            ConfigError: The extra is not installed, the API key is missing, or a value is bad.
        """
        super().__init__(preferred_temporality=_DELTA)
        self.preferred_temporality = dict(_DELTA)  # public: read by otelperf's metric wrapper
        env = os.environ if environ is None else environ
        if compression not in _ENCODINGS:
            raise ConfigError(f"compression={compression!r}: expected one of {_ENCODINGS}")
        self._api = DatadogApi(
            "exporter",
            api_key=api_key,
            site=site,
            host=host,
            timeout_s=timeout_s,
            retries=retries,
            backoff_s=backoff_s,
            environ=env,
        )
        self._tags = tuple(tags) if tags is not None else _env_tags(env)
        self._encoding = compression
        self._per_request = max(1, max_series_per_request)
        self._deltas = DeltaState()
        self.drops = Drops()
        self._shutdown = False

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        """Send the batch; FAILURE (never an exception) if any series was not accepted."""
        if self._shutdown:
            return MetricExportResult.FAILURE
        try:
            series = to_datadog_series(metrics_data, deltas=self._deltas, extra_tags=self._tags)
        except Exception:
            logger.exception("otelperf: Datadog metric mapping failed; batch dropped")
            self.drops.add("mapping")
            return MetricExportResult.FAILURE
        # One deadline for the whole export, however many requests it takes.
        deadline = time.monotonic() + min(timeout_millis / 1e3, self._api.timeout_s)
        ok = True
        for start in range(0, len(series), self._per_request):
            chunk = series[start : start + self._per_request]
            outcome, _ = self._api.send(
                functools.partial(submit_series, chunk=chunk, encoding=self._encoding),
                deadline - time.monotonic(),
            )
            if not outcome.ok:
                ok = False
                self.drops.add(drop_reason(outcome), len(chunk))
                logger.warning(
                    "otelperf: Datadog rejected %d series: %s", len(chunk), outcome.problem
                )
        return MetricExportResult.SUCCESS if ok else MetricExportResult.FAILURE

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        """Nothing is buffered here: True."""
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        """Stop: later exports return FAILURE; a retry wait in progress ends. Idempotent."""
        if not self._shutdown:
            self._shutdown = True
            self._api.close()


class DatadogAlertSink:
    """``alerts="datadog"``: post each alert as a Datadog v2 alert event.

    ``send`` runs on the alert dispatcher's thread, blocks at most ``timeout_s`` and raises
    :class:`DatadogDeliveryError` when Datadog did not accept the event (the dispatcher logs it
    once and counts it). Same settings as :class:`DatadogMetricExporter`.
    """

    name = "datadog"

    def __init__(
        self,
        *,
        api_key: str | None = None,
        site: str | None = None,
        host: str | None = None,
        tags: Sequence[str] | None = None,
        timeout_s: float = 10.0,
        retries: int = 3,
        backoff_s: float = 0.5,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        """Check the settings (see :class:`DatadogMetricExporter`).

        Raises:
            ConfigError: The extra is not installed or the API key is missing.
        """
        env = os.environ if environ is None else environ
        self._api = DatadogApi(
            "alert sink",
            api_key=api_key,
            site=site,
            host=host,
            timeout_s=timeout_s,
            retries=retries,
            backoff_s=backoff_s,
            environ=env,
        )
        self._tags = tuple(tags) if tags is not None else _env_tags(env)
        self.drops = Drops()

    def send(self, alert: Alert) -> None:
        """Post the alert as an event, or raise :class:`DatadogDeliveryError`."""
        event = to_datadog_event(alert, extra_tags=self._tags)
        outcome, attempts = self._api.send(lambda client: post_event(client, event), 1e9)
        if not outcome.ok:
            self.drops.add(drop_reason(outcome))
            raise DatadogDeliveryError(
                f"Datadog event not accepted after {attempts} attempt(s): {outcome.problem}"
            )

    def close(self) -> None:
        """Stop retrying and close the connections. Idempotent."""
        self._api.close()


def _env_tags(environ: Mapping[str, str]) -> tuple[str, ...]:
    raw = environ.get(ENV_TAGS, "")
    return tuple(t for t in re.split(r"[\s,]+", raw) if t)

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
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import urllib3
from opentelemetry.sdk.metrics import Counter, Histogram, ObservableCounter
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    MetricExporter,
    MetricExportResult,
    MetricsData,
)

from otelperf import _fork
from otelperf._errors import ConfigError
from otelperf._safety import logger, suppressed
from otelperf.alerts import Alert
from otelperf.exporters._datadog_map import to_datadog_event, to_datadog_series
from otelperf.exporters._delivery import (
    Attempt,
    Drops,
    deliver,
    network_attempt,
    retry_after_s,
    retryable_status,
)
from otelperf.exporters._histograms import DeltaState

__all__ = ["DatadogAlertSink", "DatadogDeliveryError", "DatadogMetricExporter"]

ENV_API_KEY, ENV_SITE, ENV_TAGS = "DD_API_KEY", "DD_SITE", "DD_TAGS"
_SITE = re.compile(r"[a-z0-9]+([.-][a-z0-9]+)+")
_ENCODINGS = ("gzip", "deflate", "zstd1", "none")
_DELTA: dict[type, AggregationTemporality] = {
    kind: AggregationTemporality.DELTA for kind in (Counter, Histogram, ObservableCounter)
}


class DatadogDeliveryError(Exception):
    """Datadog did not accept an alert event; the message never contains the API key."""


def _require(what: str) -> None:
    try:
        import datadog_api_client  # noqa: F401
    except ImportError:
        raise ConfigError(f"{what} 'datadog' needs: pip install 'otelperf[datadog]'") from None


class _Api:
    """One ``ApiClient`` plus the deadline-bounded retry loop; fork-safe, one caller at a time."""

    def __init__(
        self,
        what: str,
        *,
        api_key: str | None,
        site: str | None,
        host: str | None,
        timeout_s: float,
        retries: int,
        backoff_s: float,
        environ: Mapping[str, str],
    ) -> None:
        _require(what)
        key = (api_key or environ.get(ENV_API_KEY, "")).strip()
        if not key:
            raise ConfigError(
                f"{what} 'datadog' needs a Datadog API key: set {ENV_API_KEY} (or pass api_key=)"
            )
        site = (site or environ.get(ENV_SITE, "") or "datadoghq.com").strip().lower()
        if not _SITE.fullmatch(site):
            raise ConfigError(f"{ENV_SITE}={site!r}: expected a Datadog site such as datadoghq.eu")
        if not 0 < timeout_s < float("inf") or retries < 0 or backoff_s < 0:
            raise ValueError("timeout_s must be > 0, retries and backoff_s >= 0")
        self._key, self._site, self._host = key, site, host
        self.timeout_s, self._retries, self._backoff_s = timeout_s, retries, backoff_s
        self.stop = threading.Event()  # set by shutdown(): cuts retry waits short
        self._reinit()
        _fork.register(self._reinit)

    def _reinit(self) -> None:
        # A child must not share the parent's pooled sockets; also a new lock.
        from datadog_api_client import ApiClient, Configuration

        self._lock = threading.Lock()  # one request at a time per client (timeout is per client)
        config = Configuration(
            host=self._host,
            server_variables={"site": self._site},
            request_timeout=self.timeout_s,
            # urllib3 would retry refused connections 3 times at once: the deadline loop decides.
            retry_policy=urllib3.Retry(total=0, redirect=0, raise_on_status=False),
            compress=True,
        )
        config.api_key["apiKeyAuth"] = self._key
        self.client = ApiClient(config)

    def send(self, call: Callable[[Any], object], timeout_s: float) -> tuple[Attempt, int]:
        """Run ``call(api_client)`` until accepted, within ``timeout_s`` (see ``deliver``)."""
        with self._lock, suppressed():
            return deliver(
                lambda left_s: self._attempt(call, left_s),
                timeout_s=min(timeout_s, self.timeout_s),
                retries=self._retries,
                backoff_s=self._backoff_s,
                stop=self.stop,
            )

    def _attempt(self, call: Callable[[Any], object], left_s: float) -> Attempt:
        from datadog_api_client.exceptions import ApiException

        self.client.configuration.request_timeout = (min(left_s, 5.0), left_s)
        try:
            call(self.client)
            return Attempt(True)
        except ApiException as error:
            status = int(error.status or 0)
            wait_s = retry_after_s(error.headers, "x-ratelimit-reset", "retry-after")
            return Attempt(False, f"HTTP {status}", retryable_status(status), wait_s)
        except (urllib3.exceptions.HTTPError, OSError) as error:
            return network_attempt(error)
        except Exception as error:  # the SDK's own checks (ApiTypeError, ...): not retryable
            return Attempt(False, type(error).__name__, False)

    def close(self) -> None:
        self.stop.set()
        self.client.close()


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
        env = os.environ if environ is None else environ
        if compression not in _ENCODINGS:
            raise ConfigError(f"compression={compression!r}: expected one of {_ENCODINGS}")
        self._api = _Api(
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
                functools.partial(self._submit, chunk=chunk), deadline - time.monotonic()
            )
            if not outcome.ok:
                ok = False
                self.drops.add(_reason(outcome), len(chunk))
                logger.warning(
                    "otelperf: Datadog rejected %d series: %s", len(chunk), outcome.problem
                )
        return MetricExportResult.SUCCESS if ok else MetricExportResult.FAILURE

    def _submit(self, client: Any, *, chunk: list[dict[str, Any]]) -> None:
        from datadog_api_client.v2.api.metrics_api import MetricsApi
        from datadog_api_client.v2.model.metric_content_encoding import MetricContentEncoding
        from datadog_api_client.v2.model.metric_payload import MetricPayload

        body = MetricPayload(series=[_series_model(item) for item in chunk])
        if self._encoding == "none":
            MetricsApi(client).submit_metrics(body=body)
        else:
            encoding = MetricContentEncoding(self._encoding)
            MetricsApi(client).submit_metrics(body=body, content_encoding=encoding)

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
        self._api = _Api(
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
        outcome, attempts = self._api.send(lambda client: _post_event(client, event), 1e9)
        if not outcome.ok:
            self.drops.add(_reason(outcome))
            raise DatadogDeliveryError(
                f"Datadog event not accepted after {attempts} attempt(s): {outcome.problem}"
            )

    def close(self) -> None:
        """Stop retrying and close the connections. Idempotent."""
        self._api.close()


def _post_event(client: Any, event: dict[str, Any]) -> None:
    from datadog_api_client.v2.api.events_api import EventsApi
    from datadog_api_client.v2.model.alert_event_custom_attributes import (
        AlertEventCustomAttributes,
    )
    from datadog_api_client.v2.model.alert_event_custom_attributes_custom import (
        AlertEventCustomAttributesCustom,
    )
    from datadog_api_client.v2.model.alert_event_custom_attributes_priority import (
        AlertEventCustomAttributesPriority,
    )
    from datadog_api_client.v2.model.alert_event_custom_attributes_status import (
        AlertEventCustomAttributesStatus,
    )
    from datadog_api_client.v2.model.event_category import EventCategory
    from datadog_api_client.v2.model.event_create_request import EventCreateRequest
    from datadog_api_client.v2.model.event_create_request_payload import (
        EventCreateRequestPayload,
    )
    from datadog_api_client.v2.model.event_create_request_type import EventCreateRequestType
    from datadog_api_client.v2.model.event_payload import EventPayload

    inner = event["attributes"]
    attributes: dict[str, Any] = {
        "status": AlertEventCustomAttributesStatus(inner["status"]),
        "custom": AlertEventCustomAttributesCustom(**inner["custom"]),
    }
    if "priority" in inner:
        attributes["priority"] = AlertEventCustomAttributesPriority(inner["priority"])
    fields = {k: v for k, v in event.items() if k not in ("attributes", "category")}
    payload = EventPayload(
        category=EventCategory(event["category"]),
        attributes=AlertEventCustomAttributes(**attributes),
        **fields,
    )
    body = EventCreateRequestPayload(
        data=EventCreateRequest(type=EventCreateRequestType.EVENT, attributes=payload)
    )
    EventsApi(client).create_event(body=body)


def _series_model(item: dict[str, Any]) -> Any:
    from datadog_api_client.v2.model.metric_intake_type import MetricIntakeType
    from datadog_api_client.v2.model.metric_point import MetricPoint
    from datadog_api_client.v2.model.metric_resource import MetricResource
    from datadog_api_client.v2.model.metric_series import MetricSeries

    extra: dict[str, Any] = {}
    if "interval" in item:
        extra["interval"] = item["interval"]
    if "unit" in item:
        extra["unit"] = item["unit"]
    if "resources" in item:
        extra["resources"] = [MetricResource(**r) for r in item["resources"]]
    return MetricSeries(
        metric=item["metric"],
        type=MetricIntakeType(item["type"]),
        points=[MetricPoint(**p) for p in item["points"]],
        tags=item["tags"],
        **extra,
    )


def _env_tags(environ: Mapping[str, str]) -> tuple[str, ...]:
    raw = environ.get(ENV_TAGS, "")
    return tuple(t for t in re.split(r"[\s,]+", raw) if t)


def _reason(outcome: Attempt) -> str:
    return outcome.problem.split(";")[0].split(" (")[0].replace("HTTP ", "http_").lower()

"""The ``datadog-api-client`` side of the Datadog exporter and sink: client, retries, models.

One :class:`DatadogApi` wraps an ``ApiClient`` configured with a per-attempt timeout (the
client has none by default) and urllib3 retries off, and runs each call through
:func:`otelperf.exporters._delivery.deliver`. The helpers build the client's request models
from the plain dicts of :mod:`otelperf.exporters._datadog_map`.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping
from typing import Any

import urllib3

from otelperf import _fork
from otelperf._errors import ConfigError
from otelperf._safety import suppressed
from otelperf.exporters._delivery import (
    Attempt,
    deliver,
    network_attempt,
    retry_after_s,
    retryable_status,
)

__all__ = ["ENV_API_KEY", "ENV_SITE", "DatadogApi", "post_event", "submit_series"]

ENV_API_KEY, ENV_SITE = "DD_API_KEY", "DD_SITE"
_SITE = re.compile(r"[a-z0-9]+([.-][a-z0-9]+)+")


def _require(what: str) -> None:
    try:
        import datadog_api_client  # noqa: F401
    except ImportError:
        raise ConfigError(f"{what} 'datadog' needs: pip install 'otelperf[datadog]'") from None


class DatadogApi:
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


def post_event(client: Any, event: dict[str, Any]) -> None:
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


def submit_series(client: Any, *, chunk: list[dict[str, Any]], encoding: str) -> None:
    """POST ``chunk`` (series dicts) to ``/api/v2/series``, body encoded with ``encoding``."""
    from datadog_api_client.v2.api.metrics_api import MetricsApi
    from datadog_api_client.v2.model.metric_content_encoding import MetricContentEncoding
    from datadog_api_client.v2.model.metric_payload import MetricPayload

    body = MetricPayload(series=[_series_model(item) for item in chunk])
    if encoding == "none":
        MetricsApi(client).submit_metrics(body=body)
    else:
        MetricsApi(client).submit_metrics(
            body=body, content_encoding=MetricContentEncoding(encoding)
        )

"""The ``newrelic-telemetry-sdk`` side of the New Relic exporters and sink: client, retries.

One :class:`NewRelicClient` wraps an SDK client (span, metric or event) and runs each
``send_batch`` through :func:`otelperf.exporters._delivery.deliver` with a per-attempt urllib3
timeout (the SDK has none) and retries (it has none either). The SDK always speaks https; the
certificate is always verified (``ca_certs`` only adds a CA).
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Mapping
from importlib.metadata import version
from typing import Any

import urllib3

from otelperf import _fork
from otelperf._errors import ConfigError
from otelperf._safety import logger, suppressed
from otelperf.exporters._delivery import (
    Attempt,
    Drops,
    deliver,
    drop_reason,
    network_attempt,
    retry_after_s,
    retryable_status,
)
from otelperf.exporters._newrelic_map import Batch

__all__ = [
    "ENV_INSERT_KEY",
    "ENV_LICENSE_KEY",
    "ENV_REGION",
    "NewRelicClient",
    "send_batches",
]

ENV_LICENSE_KEY, ENV_INSERT_KEY = "NEW_RELIC_LICENSE_KEY", "NEW_RELIC_INSERT_KEY"
ENV_REGION = "NEW_RELIC_REGION"
_HOSTS = {
    "us": {
        "span": "trace-api.newrelic.com",
        "metric": "metric-api.newrelic.com",
        "event": "insights-collector.newrelic.com",
    },
    "eu": {
        "span": "trace-api.eu.newrelic.com",
        "metric": "metric-api.eu.newrelic.com",
        "event": "insights-collector.eu01.nr-data.net",
    },
}


class NewRelicClient:
    """One SDK client of ``kind`` (span, metric, event) plus the deadline-bounded retry loop."""

    def __init__(
        self,
        kind: str,
        what: str,
        *,
        key: str | None,
        region: str | None,
        host: str | None,
        port: int,
        ca_certs: str | None,
        timeout_s: float,
        retries: int,
        backoff_s: float,
        environ: Mapping[str, str],
        account_id: str | None = None,
    ) -> None:
        try:
            import newrelic_telemetry_sdk  # noqa: F401
        except ImportError:
            raise ConfigError(
                f"{what} 'newrelic' needs: pip install 'otelperf[newrelic]'"
            ) from None
        found = (key or environ.get(ENV_LICENSE_KEY, "") or environ.get(ENV_INSERT_KEY, "")).strip()
        if not found:
            raise ConfigError(
                f"{what} 'newrelic' needs a New Relic key: set {ENV_LICENSE_KEY} "
                f"(or {ENV_INSERT_KEY}, or pass key=)"
            )
        region = (region or environ.get(ENV_REGION, "") or "us").strip().lower()
        if region not in _HOSTS:
            raise ConfigError(f"{ENV_REGION}={region!r}: expected us or eu")
        if not 0 < timeout_s < float("inf") or retries < 0 or backoff_s < 0:
            raise ValueError("timeout_s must be > 0, retries and backoff_s >= 0")
        self._kind, self._key, self._account_id = kind, found, account_id
        self._host, self._port, self._ca_certs = host or _HOSTS[region][kind], port, ca_certs
        self.timeout_s, self._retries, self._backoff_s = timeout_s, retries, backoff_s
        self.stop = threading.Event()  # set by shutdown(): cuts retry waits short
        self._reinit()
        _fork.register(self._reinit)

    def _reinit(self) -> None:
        # A child must not share the parent's pooled TLS sockets; also a new lock.
        from newrelic_telemetry_sdk import EventClient, MetricClient, SpanClient

        self._lock = threading.Lock()  # one request at a time per client
        cls = {"span": SpanClient, "metric": MetricClient, "event": EventClient}[self._kind]
        extra = {"ca_certs": self._ca_certs} if self._ca_certs else {}
        self.client = cls(self._key, host=self._host, port=self._port, **extra)
        self.client.add_version_info("otelperf", version("otelperf"))
        if self._account_id is not None:
            # The SDK's default path lacks the account id the Event API requires.
            self.client.PATH = f"/v1/accounts/{self._account_id}/events"

    def send(self, post: Callable[[Any, Any], Any], timeout_s: float) -> tuple[Attempt, int]:
        """Run ``post(client, urllib3_timeout)`` until accepted, within ``timeout_s``."""
        with self._lock, suppressed():
            return deliver(
                lambda left_s: self._attempt(post, left_s),
                timeout_s=min(timeout_s, self.timeout_s),
                retries=self._retries,
                backoff_s=self._backoff_s,
                stop=self.stop,
            )

    def _attempt(self, post: Callable[[Any, Any], Any], left_s: float) -> Attempt:
        try:
            response = post(self.client, urllib3.Timeout(connect=min(left_s, 5.0), read=left_s))
        except (urllib3.exceptions.HTTPError, OSError) as error:
            return network_attempt(error)
        except Exception as error:  # the SDK's own failures (TypeError, ...): not retryable
            return Attempt(False, type(error).__name__, False)
        status = int(response.status)
        if 200 <= status < 300:
            return Attempt(True)
        wait_s = retry_after_s(dict(response.headers))
        return Attempt(False, f"HTTP {status}", retryable_status(status), wait_s)

    def close(self) -> None:
        self.stop.set()
        self.client.close()


def send_batches(
    client: NewRelicClient,
    batches: list[Batch],
    per_request: int,
    drops: Drops,
    what: str,
    timeout_s: float = 1e9,
) -> bool:
    # One deadline for the whole export, however many requests it takes.
    deadline = time.monotonic() + min(timeout_s, client.timeout_s)
    ok = True
    for common, items in batches:
        for start in range(0, len(items), per_request):
            chunk = items[start : start + per_request]
            outcome, _ = client.send(
                functools.partial(_post, chunk=chunk, common=common), deadline - time.monotonic()
            )
            if not outcome.ok:
                ok = False
                drops.add(drop_reason(outcome), len(chunk))
                logger.warning(
                    "otelperf: New Relic rejected %d %s: %s", len(chunk), what, outcome.problem
                )
    return ok


def _post(sdk: Any, timeout: Any, *, chunk: list[dict[str, Any]], common: dict[str, Any]) -> Any:
    return sdk.send_batch(chunk, common, timeout=timeout)

"""POST alerts as JSON to an HTTPS endpoint, with retries, a deadline and an optional signature.

Only the standard library is used (``urllib.request``), and every request runs with OpenTelemetry
instrumentation suppressed so that delivering an alert never produces spans of its own.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import hmac
import http.client
import ipaddress
import json
import random
import re
import ssl
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Mapping
from typing import IO, NamedTuple

from otelperf._errors import ConfigError
from otelperf._safety import suppressed
from otelperf.alerts.alert import Alert
from otelperf.alerts.sink import redact_url

__all__ = ["WebhookError", "WebhookSink"]

SIGNATURE_HEADER = "X-Otelperf-Signature"
TIMESTAMP_HEADER = "X-Otelperf-Timestamp"
DELIVERY_HEADER = "X-Otelperf-Delivery"
_RETRY_STATUSES = frozenset({408, 429})
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


class WebhookError(Exception):
    """A webhook could not deliver an alert. The message shows the URL without secrets."""


class _Outcome(NamedTuple):
    delivered: bool
    problem: str
    retryable: bool
    retry_after_s: float | None = None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # Following a redirect could send the alert (and its signature) to another host, or
    # downgrade it to plain http; a 3xx is reported as a failure instead.
    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: http.client.HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        return None


class WebhookSink:
    """POST each alert's :meth:`~otelperf.alerts.Alert.to_dict` as JSON to ``url``.

    Every request carries ``Content-Type: application/json``, ``X-Otelperf-Timestamp`` (Unix
    seconds at the attempt) and ``X-Otelperf-Delivery`` (one random id per alert, the same on
    every retry, for de-duplication). With a ``secret`` it also carries
    ``X-Otelperf-Signature: sha256=<hex>``: HMAC-SHA256 with the secret over the timestamp, a
    ``.`` and the raw body, so a receiver can check both origin and freshness (reject old
    timestamps to stop replays). ``user:password@`` in the URL becomes HTTP Basic auth.

    Retries: connection errors, timeouts, HTTP 408, 429 and 5xx are retried up to ``retries``
    times with exponential backoff (``backoff_s``, doubling, ±50 % jitter); a ``Retry-After``
    header is honoured when it fits the deadline, and ends the send at once when it does not.
    Other statuses (4xx, and 3xx: redirects are not followed) fail at once.

    Deadline: one ``send`` takes at most about ``timeout_s`` seconds, attempts and waits included;
    each attempt's socket timeout is the time left. Proxies from the ``*_proxy`` environment
    variables are used, except for loopback hosts.

    Thread-safe; blocks the calling (dispatcher) thread. After ``close()``, waits are cut short
    and ``send`` fails at once.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = 5.0,
        retries: int = 3,
        backoff_s: float = 0.5,
        secret: str | bytes | None = None,
        allow_http: bool = False,
        headers: Mapping[str, str] | None = None,
        name: str = "webhook",
    ) -> None:
        """Check the arguments and prepare the requests.

        Args:
            url: Where to POST. Must be ``https://`` unless the host is loopback (127.0.0.0/8,
                ``::1``, ``localhost``) or ``allow_http`` is True.
            timeout_s: Upper bound in seconds for one ``send``, all attempts included.
            retries: How many times a failed attempt is retried (so ``retries + 1`` attempts).
            backoff_s: Wait before the first retry; doubled before each next one.
            secret: Key for the ``X-Otelperf-Signature`` HMAC; no signature when None.
            allow_http: Allow plain ``http://`` to any host (the body is then readable on the way).
            headers: Extra request headers (e.g. ``Authorization``); never logged.
            name: The sink's name in otelperf's own log messages.

        Raises:
            ConfigError: The URL is not usable; the message shows it without its query string.
            ValueError: Another argument is out of range or a header is malformed.
        """
        shown = redact_url(url)
        parts = _parse_url(url, shown=shown, allow_http=allow_http)
        if not (isinstance(timeout_s, (int, float)) and 0 < timeout_s < float("inf")):
            raise ValueError(f"timeout_s must be a positive number of seconds, got {timeout_s!r}")
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise ValueError(f"retries must be an int >= 0, got {retries!r}")
        if not (isinstance(backoff_s, (int, float)) and 0 <= backoff_s < float("inf")):
            raise ValueError(f"backoff_s must be a number of seconds >= 0, got {backoff_s!r}")
        if secret is not None and not secret:
            raise ValueError("secret must be a non-empty string or bytes, or None")
        self._name = name
        self._shown = shown
        self._timeout_s = float(timeout_s)
        self._retries = retries
        self._backoff_s = float(backoff_s)
        self._secret = secret.encode() if isinstance(secret, str) else secret
        self._headers = _base_headers(parts, headers or {})
        netloc = parts.netloc.rpartition("@")[2]
        self._request_url = urllib.parse.urlunsplit(
            (parts.scheme, netloc, parts.path or "/", parts.query, "")
        )
        # Loopback traffic never goes through a proxy; otherwise use the environment's proxies.
        proxies = urllib.request.ProxyHandler({} if _is_loopback(parts.hostname) else None)
        self._opener = urllib.request.build_opener(proxies, _NoRedirect())
        self._closed = threading.Event()  # set by close(); cuts retry waits short

    @property
    def name(self) -> str:
        """The sink's name (``webhook`` by default)."""
        return self._name

    def send(self, alert: Alert) -> None:
        """POST ``alert`` within the deadline, retrying as described in the class docstring.

        Raises:
            WebhookError: The alert was not delivered; says why, without the URL's secrets.
        """
        if self._closed.is_set():
            raise WebhookError(f"POST {self._shown}: the sink is closed")
        body = json.dumps(alert.to_dict(), separators=(",", ":"), allow_nan=False).encode()
        delivery = uuid.uuid4().hex
        deadline = time.monotonic() + self._timeout_s
        attempts, problem = 0, "deadline passed before the first attempt"
        while (remaining_s := deadline - time.monotonic()) > 0:
            attempts += 1
            outcome = self._attempt(body, delivery=delivery, timeout_s=remaining_s)
            if outcome.delivered:
                return
            problem = outcome.problem
            if not outcome.retryable or attempts > self._retries:
                break
            wait_s = self._backoff_s * 2 ** (attempts - 1) * random.uniform(0.5, 1.5)
            if outcome.retry_after_s is not None:
                wait_s = max(wait_s, outcome.retry_after_s)
            if time.monotonic() + wait_s >= deadline:
                problem += f"; the next attempt (in {wait_s:.3g} s) would pass the deadline"
                break
            if self._closed.wait(wait_s):
                problem += "; the sink was closed"
                break
        raise WebhookError(f"POST {self._shown} failed after {attempts} attempt(s): {problem}")

    def close(self) -> None:
        """Stop waiting between retries; later ``send`` calls fail at once. Idempotent."""
        self._closed.set()

    def __repr__(self) -> str:
        """Show the URL without its secrets."""
        return f"WebhookSink({self._shown!r})"

    def _attempt(self, body: bytes, *, delivery: str, timeout_s: float) -> _Outcome:
        timestamp = str(int(time.time()))
        headers = dict(self._headers)
        headers[TIMESTAMP_HEADER] = timestamp
        headers[DELIVERY_HEADER] = delivery
        if self._secret is not None:
            signed = timestamp.encode() + b"." + body
            digest = hmac.new(self._secret, signed, hashlib.sha256).hexdigest()
            headers[SIGNATURE_HEADER] = f"sha256={digest}"
        request = urllib.request.Request(
            self._request_url, data=body, headers=headers, method="POST"
        )
        try:
            with suppressed(), self._opener.open(request, timeout=timeout_s) as response:
                return _Outcome(True, f"HTTP {response.status}", False)
        except urllib.error.HTTPError as error:
            try:
                retry_after_s = _retry_after_s(error.headers.get("Retry-After"))
            finally:
                error.close()  # it holds the response (and its socket)
            retryable = error.code in _RETRY_STATUSES or error.code >= 500
            return _Outcome(False, f"HTTP {error.code}", retryable, retry_after_s)
        except urllib.error.URLError as error:
            # A certificate that does not verify will not verify on the next attempt either.
            retryable = not isinstance(error.reason, ssl.SSLCertVerificationError)
            return _Outcome(False, _describe(error.reason), retryable)
        except (OSError, http.client.HTTPException) as error:
            return _Outcome(False, _describe(error), True)


def _parse_url(url: str, *, shown: str, allow_http: bool) -> urllib.parse.SplitResult:
    expected = "expected an https:// URL such as https://hooks.example/otelperf"
    if not isinstance(url, str) or any(c.isspace() or ord(c) < 32 for c in url):
        raise ConfigError(f"webhook URL {shown!r}: {expected} (no spaces or control characters)")
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        raise ConfigError(f"webhook URL {shown!r}: {expected}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"webhook URL {shown!r}: {expected}")
    if parts.scheme == "http" and not allow_http and not _is_loopback(parts.hostname):
        raise ConfigError(
            f"webhook URL {shown!r}: expected https:// (plain http only to loopback hosts, "
            "or with allow_http=True)"
        )
    return parts


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host.rstrip(".").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _base_headers(parts: urllib.parse.SplitResult, extra: Mapping[str, str]) -> dict[str, str]:
    headers = {"User-Agent": "otelperf-webhook"}
    for key, value in extra.items():
        if not _HEADER_NAME.fullmatch(str(key)):
            raise ValueError(f"webhook header name {key!r} is not a valid HTTP header name")
        if not isinstance(value, str) or "\r" in value or "\n" in value:
            raise ValueError(f"webhook header {key!r} must be a one-line string")  # value not shown
        headers[key] = value
    if parts.username is not None and not any(k.lower() == "authorization" for k in headers):
        user = urllib.parse.unquote(parts.username)
        password = urllib.parse.unquote(parts.password or "")
        token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        headers["Authorization"] = f"Basic {token}"
    headers["Content-Type"] = "application/json"
    return headers


def _retry_after_s(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - time.time())


def _describe(reason: object) -> str:
    # The exception text of socket and TLS errors names at most the host, never the URL.
    if isinstance(reason, BaseException):
        return f"{type(reason).__name__}: {reason}" if str(reason) else type(reason).__name__
    return str(reason)

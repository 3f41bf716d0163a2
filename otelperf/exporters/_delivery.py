"""Deadline-bounded retries and drop counts shared by the vendor exporters and alert sinks.

The Datadog and New Relic SDKs send one synchronous request per call and retry nothing that
otelperf can bound in time (Datadog's own retries wait at least 2 s, 4 s, 8 s; New Relic has
none), so the exporters wrap each SDK call in :func:`deliver`: it retries connection errors,
timeouts, 408, 429 and 5xx with jittered exponential backoff, honours ``Retry-After``, and never
goes past one deadline. What could not be delivered is counted in a :class:`Drops`.
"""

from __future__ import annotations

import random
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from urllib3.exceptions import (
    HTTPError,
    InvalidHeader,
    MaxRetryError,
    NewConnectionError,
    ProtocolError,
    SSLError,
    TimeoutStateError,
)
from urllib3.util import Retry

__all__ = [
    "Attempt",
    "Drops",
    "deliver",
    "drop_reason",
    "network_attempt",
    "retry_after_s",
    "retryable_status",
]


@dataclass(frozen=True, slots=True)
class Attempt:
    """What one request attempt came to.

    Attributes:
        ok: The vendor accepted the data.
        problem: Why not, for otelperf's log (never contains a key or a URL query).
        retryable: Another attempt may succeed (network error, timeout, 408, 429, 5xx).
        retry_after_s: Seconds the vendor asked us to wait (``Retry-After``), if it did.
    """

    ok: bool
    problem: str = ""
    retryable: bool = False
    retry_after_s: float | None = None


def network_attempt(error: BaseException) -> Attempt:
    """The outcome of a request that raised a network error (urllib3 or socket).

    Connection refused/reset, timeouts and TLS failures are retryable, except a certificate
    that does not verify (it will not verify on the next attempt either). ``problem`` is one
    of ``timeout``, ``connection_error``, ``tls_error`` or ``network_error`` plus the exception
    type (no URL, no header).
    """
    cause: BaseException = error
    if isinstance(error, MaxRetryError) and error.reason is not None:
        cause = error.reason
    name = type(cause).__name__
    if isinstance(cause, (TimeoutError, TimeoutStateError, socket.timeout)) or (
        isinstance(cause, HTTPError) and "Timeout" in name
    ):
        return Attempt(False, f"timeout ({name})", True)
    if isinstance(cause, (SSLError, ssl.SSLError)):
        linked = (cause, cause.__cause__, cause.__context__, *cause.args)
        verify = any(isinstance(x, ssl.SSLCertVerificationError) for x in linked)
        return Attempt(False, f"tls_error ({name})", not verify)
    if isinstance(cause, (NewConnectionError, ConnectionError, ProtocolError)):
        return Attempt(False, f"connection_error ({name})", True)
    return Attempt(False, f"network_error ({name})", True)


def retryable_status(status: int) -> bool:
    """Return True for HTTP statuses worth another attempt: 408, 429 and 5xx."""
    return status in (408, 429) or status >= 500


def retry_after_s(headers: Mapping[str, str] | None, *names: str) -> float | None:
    """Seconds to wait from the first of ``names`` (default ``Retry-After``) in ``headers``.

    Accepts delta-seconds and HTTP dates (parsed by urllib3's ``Retry``); None when absent or
    malformed.
    """
    if not headers:
        return None
    lowered = {str(k).lower(): v for k, v in headers.items()}
    for name in names or ("retry-after",):
        value = lowered.get(name.lower())
        if value is None:
            continue
        try:
            return max(0.0, float(Retry().parse_retry_after(str(value))))
        except (InvalidHeader, ValueError, OverflowError):
            return None
    return None


def deliver(
    attempt: Callable[[float], Attempt],
    *,
    timeout_s: float,
    retries: int,
    backoff_s: float,
    stop: threading.Event,
) -> tuple[Attempt, int]:
    """Call ``attempt(time_left_s)`` until it succeeds, gives up, or the deadline passes.

    Args:
        attempt: Makes one request whose socket timeout is at most the seconds it is given.
        timeout_s: Deadline for all attempts and waits together.
        retries: Retries after the first attempt, at most.
        backoff_s: Wait before the first retry; doubled each time, ±50 % jitter; a longer
            ``Retry-After`` wins. A wait that would pass the deadline ends the delivery.
        stop: Set by ``shutdown()``: cuts a wait short and ends the delivery.

    Returns:
        The last attempt's outcome and the number of attempts made (0 if none fitted).
    """
    deadline = time.monotonic() + timeout_s
    made, last = 0, Attempt(False, "the deadline passed before the first attempt")
    while (left_s := deadline - time.monotonic()) > 0 and not stop.is_set():
        made += 1
        last = attempt(left_s)
        if last.ok or not last.retryable or made > retries:
            break
        wait_s = backoff_s * 2 ** (made - 1) * random.uniform(0.5, 1.5)
        if last.retry_after_s is not None:
            wait_s = max(wait_s, last.retry_after_s)
        if time.monotonic() + wait_s >= deadline:
            last = Attempt(
                False, f"{last.problem}; a retry in {wait_s:.3g} s would miss the deadline"
            )
            break
        if stop.wait(wait_s):
            last = Attempt(False, f"{last.problem}; shut down while waiting to retry")
            break
    return last, made


def drop_reason(outcome: Attempt) -> str:
    """The drop reason of a failed delivery: ``http_503``, ``timeout``, ``connection_error``..."""
    return outcome.problem.split(";")[0].split(" (")[0].replace("HTTP ", "http_").lower()


class Drops:
    """Items an exporter or sink could not deliver, counted by reason. Thread-safe."""

    def __init__(self) -> None:
        """Start at zero."""
        self._lock = threading.Lock()  # guards _counts (export and alert threads both add)
        self._counts: dict[str, int] = {}

    def add(self, reason: str, count: int = 1) -> None:
        """Count ``count`` items dropped for ``reason`` (e.g. ``http_429``, ``timeout``)."""
        with self._lock:
            self._counts[reason] = self._counts.get(reason, 0) + count

    def counts(self) -> dict[str, int]:
        """Return a copy of the counts by reason."""
        with self._lock:
            return dict(self._counts)

    @property
    def total(self) -> int:
        """All items dropped so far."""
        with self._lock:
            return sum(self._counts.values())

    def reinit(self) -> None:
        """After ``os.fork()``: a new lock and zero counts (the parent reports its own)."""
        self._lock = threading.Lock()
        self._counts = {}

"""What the receiver does wrong on purpose: error statuses, stalls and dropped connections."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import grpc

from otelperf._receiver.records import Transport

__all__ = ["Fault", "HttpDrop", "Signal"]

Signal = Literal["traces", "metrics", "logs"]
HttpDrop = Literal["request_body", "response_body"]
_SIGNALS: frozenset[str] = frozenset({"traces", "metrics", "logs"})


@dataclass(frozen=True, slots=True, kw_only=True)
class Fault:
    """A misbehaviour the receiver applies to matching export requests.

    Each knob acts on one transport only, so one ``Fault`` can describe both an HTTP and a
    gRPC failure: ``http_status`` and ``http_drop`` affect HTTP requests, ``grpc_code`` affects
    gRPC calls, ``delay_s`` affects both. A request the fault does not affect is served
    normally. A stall is applied first, then the error; a stall alone ends in a normal
    response if the client is still waiting (otherwise the request counts as ``"abandoned"``).

    Attributes:
        http_status: Status code (400-599) sent instead of a successful response. The body is
            a ``google.rpc.Status`` in the request's encoding.
        grpc_code: ``grpc.StatusCode`` (not ``OK``) the Export RPC is aborted with.
        retry_after_s: Throttling hint in seconds. HTTP: a ``Retry-After`` header (whole
            seconds as an integer, fractions as a decimal, which the OTel Python exporter
            accepts). gRPC: a ``google.rpc.RetryInfo`` in the trailing metadata, both as
            ``google.rpc.retryinfo-bin`` (read by the OTel Python exporter) and inside
            ``grpc-status-details-bin`` (the standard rich-status trailer).
        delay_s: Seconds to stall before answering. ``stop()`` interrupts a stall.
        http_drop: Close the HTTP connection without a complete exchange:
            ``"request_body"`` after reading half of the request body (the client sees a
            reset or a closed connection), ``"response_body"`` after sending the response
            head and half of a response body (the client sees an incomplete read).
        signals: Only requests for these signals are affected; ``None`` means all.
        times: Affect only the next ``times`` matching requests, then clear the fault
            automatically; ``None`` means until ``clear_fault()``.

    Raises:
        ValueError: On construction, if no knob is set or a value is out of range.
    """

    http_status: int | None = None
    grpc_code: grpc.StatusCode | None = None
    retry_after_s: float | None = None
    delay_s: float = 0.0
    http_drop: HttpDrop | None = None
    signals: frozenset[Signal] | None = None
    times: int | None = None

    def __post_init__(self) -> None:
        """Check the knobs; see the class docstring for the valid ranges."""
        effects = (self.http_status, self.grpc_code, self.http_drop, self.delay_s or None)
        if all(effect is None for effect in effects):
            raise ValueError(
                "Fault: set at least one of http_status, grpc_code, delay_s, http_drop"
            )
        if self.http_status is not None and not 400 <= self.http_status <= 599:
            raise ValueError(f"Fault(http_status={self.http_status!r}): expected 400-599")
        if self.grpc_code is not None and (
            not isinstance(self.grpc_code, grpc.StatusCode) or self.grpc_code is grpc.StatusCode.OK
        ):
            raise ValueError(
                f"Fault(grpc_code={self.grpc_code!r}): expected a grpc.StatusCode other than OK"
            )
        if self.http_status is not None and self.http_drop is not None:
            raise ValueError("Fault: http_status and http_drop exclude each other")
        if self.http_drop not in (None, "request_body", "response_body"):
            raise ValueError(
                f"Fault(http_drop={self.http_drop!r}): expected 'request_body' or 'response_body'"
            )
        if self.retry_after_s is not None:
            if self.retry_after_s < 0:
                raise ValueError(f"Fault(retry_after_s={self.retry_after_s!r}): expected >= 0")
            if self.http_status is None and self.grpc_code is None:
                raise ValueError("Fault: retry_after_s needs http_status or grpc_code")
        if not self.delay_s >= 0:  # also rejects NaN
            raise ValueError(f"Fault(delay_s={self.delay_s!r}): expected >= 0")
        if self.signals is not None and (not self.signals or not self.signals <= _SIGNALS):
            raise ValueError(
                f"Fault(signals={self.signals!r}): "
                f"expected a non-empty subset of {sorted(_SIGNALS)}"
            )
        if self.times is not None and self.times < 1:
            raise ValueError(f"Fault(times={self.times!r}): expected >= 1 or None")

    def affects(self, signal: Signal, transport: Transport) -> bool:
        """Whether a request for ``signal`` arriving over ``transport`` is affected."""
        if self.signals is not None and signal not in self.signals:
            return False
        if self.delay_s > 0:
            return True
        if transport == "http":
            return self.http_status is not None or self.http_drop is not None
        return self.grpc_code is not None

    @property
    def retry_after_header(self) -> str | None:
        """The ``Retry-After`` header value, or ``None`` when no hint is configured."""
        if self.retry_after_s is None:
            return None
        if float(self.retry_after_s).is_integer():
            return str(int(self.retry_after_s))
        return format(self.retry_after_s, ".3f").rstrip("0").rstrip(".")

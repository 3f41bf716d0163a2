"""Thread-safe, bounded storage of what the receiver saw, plus the active fault."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal, TypeAlias

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otelperf._receiver.faults import Fault, Signal
from otelperf._receiver.records import (
    MetricPoint,
    SpanRecord,
    Transport,
    metric_points,
    span_records,
)

__all__ = ["Attempt", "ExportRequest", "Outcome", "ReceivedRequest", "RequestStore"]

ExportRequest: TypeAlias = (
    "ExportTraceServiceRequest | ExportMetricsServiceRequest | ExportLogsServiceRequest"
)
Outcome = Literal["stored", "fault", "abandoned", "rejected"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ReceivedRequest:
    """One successfully decoded and acknowledged export request.

    Attributes:
        signal: ``"traces"``, ``"metrics"`` or ``"logs"``.
        transport: ``"grpc"`` or ``"http"``.
        message: The decoded ``Export*ServiceRequest`` protobuf.
        headers: HTTP headers or gRPC invocation metadata; keys lower-case, repeated keys
            joined with ``", "``, binary (``-bin``) gRPC values base64-encoded.
        content_type: ``"application/x-protobuf"``, ``"application/json"`` or
            ``"application/grpc"``.
        content_encoding: HTTP ``Content-Encoding`` (``"identity"`` when absent); ``""``
            for gRPC, whose compression is handled by grpcio.
        received_unix_ns: Wall-clock arrival time.
        spans: Records decoded from a trace request (empty for other signals).
        points: Records decoded from a metrics request (empty for other signals).
    """

    signal: Signal
    transport: Transport
    message: ExportRequest
    headers: Mapping[str, str]
    content_type: str
    content_encoding: str
    received_unix_ns: int
    spans: tuple[SpanRecord, ...] = ()
    points: tuple[MetricPoint, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Attempt:
    """One export request as it arrived, whatever happened to it.

    Attributes:
        signal: ``"traces"``, ``"metrics"`` or ``"logs"``.
        transport: ``"grpc"`` or ``"http"``.
        outcome: ``"stored"`` (acknowledged and kept), ``"fault"`` (answered by the active
            fault), ``"abandoned"`` (the client left during a stall) or ``"rejected"``
            (malformed: bad body, encoding, content type or length).
        detail: Human-readable reason, e.g. ``"http 429"`` or ``"grpc UNAVAILABLE"``.
        headers: As in `ReceivedRequest.headers`.
        received_unix_ns: Wall-clock arrival time.
    """

    signal: Signal
    transport: Transport
    outcome: Outcome
    detail: str
    headers: Mapping[str, str]
    received_unix_ns: int


def make_headers(pairs: Iterable[tuple[str, str]]) -> Mapping[str, str]:
    """Build a read-only header mapping with lower-case keys; repeats are joined by ``", "``."""
    merged: dict[str, str] = {}
    for key, value in pairs:
        name = key.lower()
        merged[name] = f"{merged[name]}, {value}" if name in merged else value
    return MappingProxyType(merged)


def make_request(
    *,
    signal: Signal,
    transport: Transport,
    message: ExportRequest,
    headers: Mapping[str, str],
    content_type: str,
    content_encoding: str,
    received_unix_ns: int,
) -> ReceivedRequest:
    """Build a `ReceivedRequest`, decoding span and metric records up front.

    Called on the transport's thread before the store lock is taken, so readers never pay for
    decoding and the lock is held only to append.
    """
    spans: tuple[SpanRecord, ...] = ()
    points: tuple[MetricPoint, ...] = ()
    if isinstance(message, ExportTraceServiceRequest):
        spans = span_records(message, transport=transport)
    elif isinstance(message, ExportMetricsServiceRequest):
        points = metric_points(message, transport=transport)
    return ReceivedRequest(
        signal=signal,
        transport=transport,
        message=message,
        headers=headers,
        content_type=content_type,
        content_encoding=content_encoding,
        received_unix_ns=received_unix_ns,
        spans=spans,
        points=points,
    )


class RequestStore:
    """Bounded history of attempts and stored requests, and the active fault.

    All methods are thread-safe. When ``max_requests`` is reached the oldest entries are
    dropped (and counted in `dropped`), so a long-running receiver has bounded memory.
    """

    def __init__(self, *, max_requests: int) -> None:
        """Create an empty store keeping at most ``max_requests`` requests and attempts."""
        if max_requests < 1:
            raise ValueError(f"max_requests={max_requests!r}: expected >= 1")
        # RLock: wait_for() evaluates caller predicates while holding the lock, and those
        # predicates call the receiver's accessors, which take the same lock again.
        self._cond = threading.Condition(threading.RLock())
        # Everything below is guarded by self._cond.
        self._received: deque[ReceivedRequest] = deque(maxlen=max_requests)
        self._attempts: deque[Attempt] = deque(maxlen=max_requests)
        self._dropped = 0
        self._fault: Fault | None = None
        self._fault_remaining: int | None = None

    def record(self, attempt: Attempt, request: ReceivedRequest | None = None) -> None:
        """Append an attempt (and its stored request, if any) and wake all waiters."""
        with self._cond:
            self._attempts.append(attempt)
            if request is not None:
                if len(self._received) == self._received.maxlen:
                    self._dropped += 1  # deque(maxlen) evicts the oldest on append
                self._received.append(request)
            self._cond.notify_all()

    def received(self) -> list[ReceivedRequest]:
        """Snapshot of stored requests, oldest first."""
        with self._cond:
            return list(self._received)

    def attempts(self) -> list[Attempt]:
        """Snapshot of all attempts, oldest first."""
        with self._cond:
            return list(self._attempts)

    @property
    def dropped(self) -> int:
        """Stored requests evicted because ``max_requests`` was reached."""
        with self._cond:
            return self._dropped

    def clear(self) -> None:
        """Forget all requests, attempts and the dropped count (the fault stays)."""
        with self._cond:
            self._received.clear()
            self._attempts.clear()
            self._dropped = 0
            self._cond.notify_all()

    def wait_for(self, predicate: Callable[[], bool], *, timeout_s: float) -> bool:
        """Block until ``predicate()`` is true or ``timeout_s`` passes; return its last value.

        The predicate runs with the lock held, on every change to the store.
        """
        with self._cond:
            return self._cond.wait_for(predicate, timeout=timeout_s)

    @property
    def fault(self) -> Fault | None:
        """The active fault, or ``None``."""
        with self._cond:
            return self._fault

    def set_fault(self, fault: Fault | None) -> None:
        """Replace the active fault (``None`` clears it)."""
        with self._cond:
            self._fault = fault
            self._fault_remaining = None if fault is None else fault.times
            self._cond.notify_all()

    def claim_fault(self, signal: Signal, transport: Transport) -> Fault | None:
        """Return the fault that applies to a new request, consuming one of its ``times``."""
        with self._cond:
            fault = self._fault
            if fault is None or not fault.affects(signal, transport):
                return None
            if self._fault_remaining is not None:
                self._fault_remaining -= 1
                if self._fault_remaining == 0:
                    self._fault = None
                    self._fault_remaining = None
            return fault

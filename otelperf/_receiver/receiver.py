"""`OTLPReceiver`: an in-process OTLP collector stand-in with inspection and fault knobs."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, Literal, overload

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otelperf._receiver.faults import Fault, Signal
from otelperf._receiver.grpc_transport import GrpcTransport
from otelperf._receiver.http_transport import HttpTransport
from otelperf._receiver.records import MetricPoint, SpanRecord, Transport
from otelperf._receiver.store import Attempt, ReceivedRequest, RequestStore

__all__ = ["OTLPReceiver"]

_STOP_TIMEOUT_S = 5.0  # upper bound for each transport's shutdown


class OTLPReceiver:
    """Receive OTLP over gRPC and HTTP on local ports and keep what arrives for inspection.

    Use it as a context manager (or call `start` and `stop`)::

        with OTLPReceiver() as receiver:
            exporter = OTLPSpanExporter(endpoint=receiver.grpc_endpoint, insecure=True)
            ...
            assert receiver.wait_for_spans(1, timeout_s=5)
            [span] = receiver.spans()

    gRPC serves the ``TraceService``, ``MetricsService`` and ``LogsService`` Export RPCs. HTTP
    serves ``POST /v1/traces``, ``/v1/metrics`` and ``/v1/logs`` with ``application/x-protobuf``
    or ``application/json`` (OTLP/JSON: hex ids) bodies, optionally ``gzip``/``deflate``
    encoded. Every request is counted as an `Attempt`; acknowledged ones are also kept as a
    `ReceivedRequest` with headers and transport. A `Fault` makes the receiver fail, throttle,
    stall or drop connections until it is cleared.

    All methods are thread-safe. Stored history is bounded by ``max_requests`` (oldest dropped).
    Not fork-safe: use it in the process that created it.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        grpc_port: int = 0,
        http_port: int = 0,
        grpc: bool = True,
        http: bool = True,
        max_requests: int = 10_000,
        max_body_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        """Configure the receiver; nothing is bound until `start`.

        Args:
            host: Address to bind. The loopback default keeps the receiver private to this
                machine. An IPv6 literal (``"::1"``) is accepted.
            grpc_port: gRPC port; ``0`` picks a free ephemeral port at `start`.
            http_port: HTTP port; ``0`` picks a free ephemeral port at `start`.
            grpc: Serve OTLP/gRPC.
            http: Serve OTLP/HTTP.
            max_requests: Most stored requests (and, separately, attempts) kept.
            max_body_bytes: Largest HTTP body accepted, before and after decompression;
                larger bodies get ``413``.

        Raises:
            ValueError: If both transports are disabled or a number is out of range.
        """
        if not (grpc or http):
            raise ValueError("OTLPReceiver: enable at least one of grpc, http")
        for name, port in (("grpc_port", grpc_port), ("http_port", http_port)):
            if not 0 <= port <= 65535:
                raise ValueError(f"OTLPReceiver({name}={port!r}): expected 0-65535")
        if max_body_bytes < 1:
            raise ValueError(f"OTLPReceiver(max_body_bytes={max_body_bytes!r}): expected >= 1")
        self._host = host
        self._want_grpc = grpc
        self._want_http = http
        self._max_body_bytes = max_body_bytes
        self._store = RequestStore(max_requests=max_requests)
        self._lock = threading.Lock()  # guards the fields below: start/stop state and ports
        self._grpc_port = grpc_port
        self._http_port = http_port
        self._grpc: GrpcTransport | None = None
        self._http: HttpTransport | None = None
        self._stopping = threading.Event()

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> OTLPReceiver:
        """Bind and start serving; a no-op if already running. Returns ``self``.

        After `stop`, `start` serves again on the *same* ports (the ones picked the first
        time), so a test can simulate a collector going down and coming back. Stored data and
        the active fault survive a restart.

        Raises:
            OSError: If the HTTP port cannot be bound.
            RuntimeError: If the gRPC port cannot be bound.
        """
        with self._lock:
            if self._grpc is not None or self._http is not None:
                return self
            stopping = threading.Event()
            grpc_transport: GrpcTransport | None = None
            try:
                if self._want_grpc:
                    grpc_transport = GrpcTransport(
                        host=self._host, port=self._grpc_port, store=self._store, stopping=stopping
                    )
                http_transport = (
                    HttpTransport(
                        host=self._host,
                        port=self._http_port,
                        store=self._store,
                        stopping=stopping,
                        max_body_bytes=self._max_body_bytes,
                    )
                    if self._want_http
                    else None
                )
            except BaseException:
                if grpc_transport is not None:  # do not leak a half-started receiver
                    grpc_transport.stop(timeout_s=_STOP_TIMEOUT_S)
                raise
            self._stopping = stopping
            self._grpc, self._http = grpc_transport, http_transport
            if grpc_transport is not None:
                self._grpc_port = grpc_transport.port
            if http_transport is not None:
                self._http_port = http_transport.port
            return self

    def stop(self) -> None:
        """Stop both servers; idempotent, and returns within about 10 seconds at worst.

        Stalled requests are released at once (and answered with an error or a dropped
        connection); open HTTP keep-alive connections are closed.
        """
        with self._lock:
            grpc_transport, http_transport = self._grpc, self._http
            self._grpc = self._http = None
            self._stopping.set()
        if grpc_transport is not None:
            grpc_transport.stop(timeout_s=_STOP_TIMEOUT_S)
        if http_transport is not None:
            http_transport.stop(timeout_s=_STOP_TIMEOUT_S)

    @property
    def running(self) -> bool:
        """Whether the receiver is serving (between `start` and `stop`)."""
        with self._lock:
            return self._grpc is not None or self._http is not None

    def __enter__(self) -> OTLPReceiver:
        """Start the receiver."""
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Stop the receiver."""
        self.stop()

    # -- addresses ---------------------------------------------------------------------------

    def _netloc(self, port: int) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"{host}:{port}"

    @property
    def host(self) -> str:
        """The bound host, as given to the constructor."""
        return self._host

    @property
    def grpc_port(self) -> int:
        """The gRPC port picked at the first `start`.

        Raises:
            RuntimeError: If gRPC is disabled or the receiver was never started.
        """
        with self._lock:
            if not self._want_grpc or self._grpc_port == 0:
                raise RuntimeError("OTLPReceiver: gRPC is disabled or the receiver never started")
            return self._grpc_port

    @property
    def http_port(self) -> int:
        """The HTTP port picked at the first `start`.

        Raises:
            RuntimeError: If HTTP is disabled or the receiver was never started.
        """
        with self._lock:
            if not self._want_http or self._http_port == 0:
                raise RuntimeError("OTLPReceiver: HTTP is disabled or the receiver never started")
            return self._http_port

    @property
    def grpc_endpoint(self) -> str:
        """``"http://HOST:PORT"``, the form to pass to the OTLP gRPC exporters' ``endpoint``.

        The ``http`` scheme tells the exporter to use a plaintext channel. Still pass
        ``insecure=True``: an ``OTEL_EXPORTER_OTLP_INSECURE`` environment variable otherwise
        overrides the scheme. The same value works as ``OTEL_EXPORTER_OTLP_ENDPOINT``.
        """
        return f"http://{self._netloc(self.grpc_port)}"

    @property
    def grpc_target(self) -> str:
        """``"HOST:PORT"``, the form ``grpc.insecure_channel`` takes."""
        return self._netloc(self.grpc_port)

    @property
    def http_endpoint(self) -> str:
        """``"http://HOST:PORT"``, the base URL (``OTEL_EXPORTER_OTLP_ENDPOINT`` form).

        The OTLP/HTTP exporters' ``endpoint=`` argument needs the full signal URL instead;
        use `http_url`.
        """
        return f"http://{self._netloc(self.http_port)}"

    def http_url(self, signal: Signal) -> str:
        """Full URL for one signal, e.g. ``"http://127.0.0.1:PORT/v1/traces"``."""
        return f"{self.http_endpoint}/v1/{signal}"

    # -- received data ---------------------------------------------------------------------

    def received(
        self, signal: Signal | None = None, *, transport: Transport | None = None
    ) -> list[ReceivedRequest]:
        """Stored requests, oldest first, optionally filtered by signal and transport."""
        return [
            r
            for r in self._store.received()
            if (signal is None or r.signal == signal)
            and (transport is None or r.transport == transport)
        ]

    @overload
    def requests(self, signal: Literal["traces"]) -> list[ExportTraceServiceRequest]: ...
    @overload
    def requests(self, signal: Literal["metrics"]) -> list[ExportMetricsServiceRequest]: ...
    @overload
    def requests(self, signal: Literal["logs"]) -> list[ExportLogsServiceRequest]: ...
    def requests(self, signal: Signal) -> list[Any]:
        """The raw decoded ``Export*ServiceRequest`` protobufs for one signal, oldest first."""
        return [r.message for r in self.received(signal)]

    def spans(
        self, *, name: str | None = None, transport: Transport | None = None
    ) -> list[SpanRecord]:
        """All stored spans, flattened, in arrival order; optionally only those named ``name``."""
        return [
            span
            for r in self.received("traces", transport=transport)
            for span in r.spans
            if name is None or span.name == name
        ]

    def metrics(
        self, *, name: str | None = None, transport: Transport | None = None
    ) -> list[MetricPoint]:
        """All stored metric data points, flattened, in arrival order; optionally one metric."""
        return [
            point
            for r in self.received("metrics", transport=transport)
            for point in r.points
            if name is None or point.name == name
        ]

    def headers(self, signal: Signal | None = None) -> list[Mapping[str, str]]:
        """Headers (HTTP) or invocation metadata (gRPC) of each stored request, oldest first.

        Keys are lower-case, e.g. ``receiver.headers()[0]["api-key"]``. Headers of faulted
        or rejected requests are in `attempts`.
        """
        return [r.headers for r in self.received(signal)]

    def attempts(
        self, signal: Signal | None = None, *, transport: Transport | None = None
    ) -> list[Attempt]:
        """Every request that arrived, stored or not, oldest first; see `Attempt.outcome`."""
        return [
            a
            for a in self._store.attempts()
            if (signal is None or a.signal == signal)
            and (transport is None or a.transport == transport)
        ]

    @property
    def dropped_requests(self) -> int:
        """Stored requests evicted because ``max_requests`` was reached."""
        return self._store.dropped

    def clear(self) -> None:
        """Forget all stored requests and attempts. The active fault is kept."""
        self._store.clear()

    def wait_for(self, predicate: Callable[[], bool], *, timeout_s: float = 5.0) -> bool:
        """Block until ``predicate()`` is true; return ``False`` if ``timeout_s`` passes first.

        The predicate is re-evaluated each time a request arrives (a condition variable, not
        polling). It runs while the receiver's lock is held: it may call this receiver's
        accessors but must not block.
        """
        return self._store.wait_for(predicate, timeout_s=timeout_s)

    def wait_for_spans(self, count: int, *, timeout_s: float = 5.0) -> bool:
        """Block until at least ``count`` spans are stored; ``False`` on timeout."""
        return self.wait_for(lambda: len(self.spans()) >= count, timeout_s=timeout_s)

    # -- faults ----------------------------------------------------------------------------

    @property
    def fault(self) -> Fault | None:
        """The active fault, or ``None``."""
        return self._store.fault

    def set_fault(self, fault: Fault) -> None:
        """Apply ``fault`` to requests arriving from now on (replacing any active fault).

        Requests already being served keep the fault they started with.
        """
        self._store.set_fault(fault)

    def clear_fault(self) -> None:
        """Serve normally again."""
        self._store.set_fault(None)

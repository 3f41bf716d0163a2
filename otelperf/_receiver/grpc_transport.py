"""The OTLP/gRPC side of the receiver: Export RPCs for traces, metrics and logs."""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
from google.rpc import error_details_pb2, status_pb2  # type: ignore[import-untyped]  # no stubs
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from otelperf._receiver.faults import Fault, Signal
from otelperf._receiver.store import (
    Attempt,
    ExportRequest,
    Outcome,
    RequestStore,
    make_headers,
    make_request,
)

__all__ = ["GrpcTransport"]

_log = logging.getLogger("otelperf")

# Same ceiling as the OTLP/HTTP exporter's default request size; grpcio's default is 4 MiB.
_MAX_MESSAGE_BYTES = 64 * 1024 * 1024
_WORKERS = 16  # a stalled call holds a worker, so leave room for concurrent stalls


def _metadata_headers(metadata: Any) -> Mapping[str, str]:
    pairs: list[tuple[str, str]] = []
    for key, value in metadata or ():
        text = base64.b64encode(value).decode("ascii") if isinstance(value, bytes) else value
        pairs.append((str(key), str(text)))
    return make_headers(pairs)


def _retry_trailers(fault: Fault, message: str) -> tuple[tuple[str, bytes], ...]:
    """Trailing metadata carrying a RetryInfo for ``fault.retry_after_s``."""
    assert fault.retry_after_s is not None and fault.grpc_code is not None
    whole_s = int(fault.retry_after_s)
    info = error_details_pb2.RetryInfo()
    info.retry_delay.seconds = whole_s
    info.retry_delay.nanos = round((fault.retry_after_s - whole_s) * 1e9)
    status = status_pb2.Status(code=fault.grpc_code.value[0], message=message)
    status.details.add().Pack(info)
    return (
        ("google.rpc.retryinfo-bin", info.SerializeToString()),
        ("grpc-status-details-bin", status.SerializeToString()),
    )


class _Handler:
    """Shared body of the three Export RPCs."""

    def __init__(self, store: RequestStore, stopping: threading.Event) -> None:
        self._store = store
        self._stopping = stopping

    def handle(self, signal: Signal, message: ExportRequest, context: Any) -> None:
        """Store ``message`` or apply the active fault; a fault aborts the RPC by raising."""
        received_unix_ns = time.time_ns()
        headers = _metadata_headers(context.invocation_metadata())

        def attempt(outcome: Outcome, detail: str) -> Attempt:
            return Attempt(
                signal=signal,
                transport="grpc",
                outcome=outcome,
                detail=detail,
                headers=headers,
                received_unix_ns=received_unix_ns,
            )

        fault = self._store.claim_fault(signal, "grpc")
        if fault is not None:
            # Event.wait rather than sleep so that stop() ends a stall at once.
            if fault.delay_s > 0 and self._stopping.wait(fault.delay_s):
                self._store.record(attempt("fault", "receiver stopped during stall"))
                context.abort(grpc.StatusCode.UNAVAILABLE, "otelperf receiver is stopping")
            if fault.grpc_code is not None:
                detail = f"grpc {fault.grpc_code.name}"
                self._store.record(attempt("fault", detail))
                text = f"otelperf receiver fault: {detail}"
                if fault.retry_after_s is not None:
                    context.set_trailing_metadata(_retry_trailers(fault, text))
                context.abort(fault.grpc_code, text)
            if not context.is_active():  # deadline passed or client cancelled during the stall
                self._store.record(
                    attempt("abandoned", f"client left during {fault.delay_s}s stall")
                )
                return
        request = make_request(
            signal=signal,
            transport="grpc",
            message=message,
            headers=headers,
            content_type="application/grpc",
            content_encoding="",
            received_unix_ns=received_unix_ns,
        )
        self._store.record(attempt("stored", "ok"), request)


class _TraceServicer(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, handler: _Handler) -> None:
        self._handler = handler

    def Export(
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: Any
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        self._handler.handle("traces", request, context)
        return trace_service_pb2.ExportTraceServiceResponse()


class _MetricsServicer(metrics_service_pb2_grpc.MetricsServiceServicer):
    def __init__(self, handler: _Handler) -> None:
        self._handler = handler

    def Export(
        self, request: metrics_service_pb2.ExportMetricsServiceRequest, context: Any
    ) -> metrics_service_pb2.ExportMetricsServiceResponse:
        self._handler.handle("metrics", request, context)
        return metrics_service_pb2.ExportMetricsServiceResponse()


class _LogsServicer(logs_service_pb2_grpc.LogsServiceServicer):
    def __init__(self, handler: _Handler) -> None:
        self._handler = handler

    def Export(
        self, request: logs_service_pb2.ExportLogsServiceRequest, context: Any
    ) -> logs_service_pb2.ExportLogsServiceResponse:
        self._handler.handle("logs", request, context)
        return logs_service_pb2.ExportLogsServiceResponse()


class GrpcTransport:
    """A started grpcio server bound to ``host:port`` (``port=0`` picks a free port).

    Raises:
        RuntimeError: From the constructor, if the address cannot be bound.
    """

    def __init__(
        self, *, host: str, port: int, store: RequestStore, stopping: threading.Event
    ) -> None:
        """Bind and start serving; `port` is the bound port afterwards."""
        self._executor = ThreadPoolExecutor(
            max_workers=_WORKERS, thread_name_prefix="otelperf-receiver-grpc"
        )
        self._server = grpc.server(
            self._executor,
            options=[
                # Without this, grpcio on Linux sets SO_REUSEPORT and a second server could
                # silently share a fixed port instead of failing to bind.
                ("grpc.so_reuseport", 0),
                ("grpc.max_receive_message_length", _MAX_MESSAGE_BYTES),
            ],
        )
        handler = _Handler(store, stopping)
        registrations = (
            (trace_service_pb2_grpc.add_TraceServiceServicer_to_server, _TraceServicer(handler)),
            (
                metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server,
                _MetricsServicer(handler),
            ),
            (logs_service_pb2_grpc.add_LogsServiceServicer_to_server, _LogsServicer(handler)),
        )
        for add_servicer, servicer in registrations:
            # The generated *_pb2_grpc helpers carry no annotations.
            add_servicer(servicer, self._server)  # type: ignore[no-untyped-call]
        target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        try:
            self.port: int = self._server.add_insecure_port(target)
        except RuntimeError:
            self._executor.shutdown(wait=False)
            raise
        self._server.start()

    def stop(self, *, timeout_s: float) -> None:
        """Stop serving; in-flight calls get a short grace period, bounded by ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        stopped = self._server.stop(grace=min(0.2, timeout_s / 2))
        if not stopped.wait(timeout=max(0.0, deadline - time.monotonic())):
            _log.warning("otelperf receiver: gRPC server did not stop within %.1fs", timeout_s)
        # Handlers finish promptly once `stopping` is set, so this join is short.
        self._executor.shutdown(wait=True, cancel_futures=True)

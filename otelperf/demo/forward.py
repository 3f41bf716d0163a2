"""``OtlpForwarder``: copy every request the demo receives to a Collector (``--export otlp``).

The demo's app exports to the demo's own receiver (that is what the live view shows); with
``--export otlp`` each received export request is also sent on, unchanged, to a Collector over
OTLP/gRPC or OTLP/HTTP (protobuf), from a queue on its own thread. A slow or absent Collector
never stalls the view: the queue is bounded and what does not fit is dropped and counted.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import urllib.error
import urllib.request
from typing import Any, Literal

import grpc
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc

from otelperf._receiver import ReceivedRequest

__all__ = ["OtlpForwarder"]

Protocol = Literal["grpc", "http/protobuf"]
_TIMEOUT_S = 5.0


class OtlpForwarder:
    """Send received OTLP requests on to ``endpoint`` (thread ``otelperf-demo-forward``)."""

    def __init__(
        self, endpoint: str, *, protocol: Protocol = "grpc", max_queue: int = 1000
    ) -> None:
        """Start the forwarding thread.

        Args:
            endpoint: ``http://host:port`` of the Collector (its OTLP/gRPC or OTLP/HTTP port).
            protocol: ``grpc`` or ``http/protobuf``.
            max_queue: Requests waiting at most; more are dropped (counted in ``dropped``).

        Raises:
            ValueError: ``endpoint`` is not an ``http(s)://host:port`` URL.
        """
        if not endpoint.startswith(("http://", "https://")):
            raise ValueError(f"--otlp-endpoint {endpoint!r}: expected http://HOST:PORT")
        self.endpoint = endpoint.rstrip("/")
        self.protocol = protocol
        self.sent = self.failed = self.dropped = 0
        self._queue: queue.Queue[ReceivedRequest | None] = queue.Queue(max_queue)
        self._stubs: dict[str, Any] = {}
        self._channel: grpc.Channel | None = None
        if protocol == "grpc":
            target = self.endpoint.split("://", 1)[1]
            if self.endpoint.startswith("https://"):
                self._channel = grpc.secure_channel(target, grpc.ssl_channel_credentials())
            else:
                self._channel = grpc.insecure_channel(target)
            self._stubs = {
                "traces": trace_service_pb2_grpc.TraceServiceStub(self._channel),  # type: ignore[no-untyped-call]
                "metrics": metrics_service_pb2_grpc.MetricsServiceStub(  # type: ignore[no-untyped-call]
                    self._channel
                ),
                "logs": logs_service_pb2_grpc.LogsServiceStub(self._channel),  # type: ignore[no-untyped-call]
            }
        self._thread = threading.Thread(target=self._run, name="otelperf-demo-forward", daemon=True)
        self._thread.start()

    def __call__(self, request: ReceivedRequest) -> None:
        """Queue ``request`` for sending; never blocks."""
        try:
            self._queue.put_nowait(request)
        except queue.Full:
            self.dropped += 1

    def close(self, timeout_s: float = 10.0) -> None:
        """Send what is queued (within ``timeout_s``), then stop."""
        with contextlib.suppress(queue.Full):
            self._queue.put(None, timeout=timeout_s)
        self._thread.join(timeout_s)
        if self._channel is not None:
            self._channel.close()

    def _run(self) -> None:
        while (request := self._queue.get()) is not None:
            try:
                self._send(request)
                self.sent += 1
            except (grpc.RpcError, OSError, urllib.error.URLError):
                self.failed += 1

    def _send(self, request: ReceivedRequest) -> None:
        if self.protocol == "grpc":
            self._stubs[request.signal].Export(request.message, timeout=_TIMEOUT_S)
            return
        body = request.message.SerializeToString()
        post = urllib.request.Request(
            f"{self.endpoint}/v1/{request.signal}",
            data=body,
            headers={"Content-Type": "application/x-protobuf"},
            method="POST",
        )
        with urllib.request.urlopen(post, timeout=_TIMEOUT_S) as response:
            response.read()

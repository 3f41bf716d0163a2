"""The OTLP/HTTP side of the receiver: POST /v1/traces, /v1/metrics and /v1/logs."""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import socketserver
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from google.rpc import status_pb2  # type: ignore[import-untyped]  # no stubs

from otelperf._receiver.faults import Fault, Signal
from otelperf._receiver.http_codec import (
    JSON,
    PATHS,
    PROTOBUF,
    PROTOBUF_ALIASES,
    RESPONSES,
    RPC_CODES,
    Rejected,
    decode,
    decompress,
    encode,
)
from otelperf._receiver.store import (
    Attempt,
    Outcome,
    ReceivedRequest,
    RequestStore,
    make_headers,
    make_request,
)

__all__ = ["HttpTransport"]

_log = logging.getLogger("otelperf")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like a real collector
    timeout = 30  # seconds an idle keep-alive connection may hold its thread
    server: _Server

    def do_POST(self) -> None:
        self._received_unix_ns = time.time_ns()
        signal = PATHS.get(self.path.split("?", 1)[0])
        if signal is None:
            self.close_connection = True  # the unread body would corrupt the next request
            self._reply_status(404, f"no OTLP endpoint at {self.path}", as_json=False)
            return
        self._signal: Signal = signal
        self._request_headers = make_headers(self.headers.items())
        content_type = self.headers.get_content_type()
        as_json = content_type == JSON
        fault = self.server.store.claim_fault(signal, "http")
        if fault is not None and fault.http_drop == "request_body":
            self._record("fault", "http dropped mid request body")
            with contextlib.suppress(OSError, ValueError):
                declared = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(min(declared // 2, self.server.max_body_bytes))
            self._drop_connection()
            return
        try:
            encoding = (self.headers.get("Content-Encoding") or "").strip().lower()
            data = decompress(self._read_body(), encoding, self.server.max_body_bytes)
        except Rejected as rejected:
            self.close_connection = True  # the body may be partly unread
            self._reject(rejected, as_json=as_json)
            return
        if fault is not None and self._answered_by_fault(fault, as_json=as_json):
            return
        try:
            decoded = decode(data, signal=signal, content_type=content_type)
        except Rejected as rejected:
            self._reject(rejected, as_json=as_json)
            return
        request = make_request(
            signal=signal,
            transport="http",
            message=decoded,
            headers=self._request_headers,
            content_type=PROTOBUF if content_type in PROTOBUF_ALIASES else content_type,
            content_encoding=encoding or "identity",
            received_unix_ns=self._received_unix_ns,
        )
        self._record("stored", "ok", request)
        self._reply(200, encode(RESPONSES[signal](), as_json=as_json), as_json=as_json)

    def _answered_by_fault(self, fault: Fault, *, as_json: bool) -> bool:
        """Apply ``fault`` after the body was read; ``False`` means: go on and store it."""
        # Event.wait rather than sleep so that stop() ends a stall at once.
        if fault.delay_s > 0 and self.server.stopping.wait(fault.delay_s):
            self._record("fault", "receiver stopped during stall")
            self._drop_connection()
            return True
        if fault.http_status is not None:
            self._record("fault", f"http {fault.http_status}")
            retry_after = fault.retry_after_header
            extra = (("Retry-After", retry_after),) if retry_after is not None else ()
            text = f"otelperf receiver fault: http {fault.http_status}"
            self._reply_status(fault.http_status, text, as_json=as_json, extra=extra)
            return True
        if fault.http_drop == "response_body":
            self._record("fault", "http dropped mid response body")
            self._reply_truncated(self._signal, as_json=as_json)
            return True
        if self._client_gone():
            self._record("abandoned", f"client left during {fault.delay_s}s stall")
            self.close_connection = True
            return True
        return False

    def _record(
        self, outcome: Outcome, detail: str, request: ReceivedRequest | None = None
    ) -> None:
        attempt = Attempt(
            signal=self._signal,
            transport="http",
            outcome=outcome,
            detail=detail,
            headers=self._request_headers,
            received_unix_ns=self._received_unix_ns,
        )
        self.server.store.record(attempt, request)

    def _reject(self, rejected: Rejected, *, as_json: bool) -> None:
        self._record("rejected", f"http {rejected.status}: {rejected.reason}")
        self._reply_status(rejected.status, rejected.reason, as_json=as_json)

    def _read_body(self) -> bytes:
        limit = self.server.max_body_bytes
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self._read_chunked(limit)
        length_text = self.headers.get("Content-Length")
        if length_text is None:
            raise Rejected(411, "Content-Length or chunked Transfer-Encoding required")
        try:
            length = int(length_text)
        except ValueError:
            raise Rejected(400, f"bad Content-Length {length_text!r}") from None
        if length < 0:
            raise Rejected(400, f"bad Content-Length {length_text!r}")
        if length > limit:
            raise Rejected(413, f"body of {length} bytes exceeds {limit} bytes")
        body = self.rfile.read(length)
        if len(body) != length:
            raise Rejected(400, "connection closed before the end of the body")
        return body

    def _read_chunked(self, limit: int) -> bytes:
        chunks: list[bytes] = []
        total = 0
        while True:
            size_line = self.rfile.readline(1024).split(b";", 1)[0].strip()
            try:
                size = int(size_line, 16)
            except ValueError:
                raise Rejected(400, f"bad chunk size {size_line!r}") from None
            if size == 0:
                while self.rfile.readline(1024).strip():  # skip trailers up to the blank line
                    pass
                return b"".join(chunks)
            total += size
            if total > limit:
                raise Rejected(413, f"chunked body exceeds {limit} bytes")
            chunks.append(self.rfile.read(size))
            self.rfile.readline(1024)  # CRLF after the chunk data

    def _reply(
        self, status: int, body: bytes, *, as_json: bool, extra: tuple[tuple[str, str], ...] = ()
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", JSON if as_json else PROTOBUF)
        self.send_header("Content-Length", str(len(body)))
        for name, value in extra:
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def _reply_status(
        self, status: int, text: str, *, as_json: bool, extra: tuple[tuple[str, str], ...] = ()
    ) -> None:
        # OTLP/HTTP failure bodies are a google.rpc.Status in the request's encoding.
        proto = status_pb2.Status(code=RPC_CODES.get(status, 2), message=text)
        self._reply(status, encode(proto, as_json=as_json), as_json=as_json, extra=extra)

    def _reply_truncated(self, signal: Signal, *, as_json: bool) -> None:
        # Announce a body longer than what is sent, so the client hits EOF mid-body. An empty
        # Export*Response serialises to nothing, so pad the announced length.
        body = encode(RESPONSES[signal](), as_json=as_json) + b" " * 64
        self.send_response(200)
        self.send_header("Content-Type", JSON if as_json else PROTOBUF)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2])
        self._drop_connection()

    def _drop_connection(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _client_gone(self) -> bool:
        """Whether the peer closed its side (EOF pending) while the request was stalled."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def log_message(self, format: str, *args: Any) -> None:
        """Send the per-request access log to the otelperf logger at DEBUG, not stderr."""
        _log.debug("otelperf receiver http: " + format, *args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # stop() closes connections itself, with a deadline

    def __init__(
        self,
        address: tuple[str, int],
        *,
        store: RequestStore,
        stopping: threading.Event,
        max_body_bytes: int,
    ) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.store = store
        self.stopping = stopping
        self.max_body_bytes = max_body_bytes
        self._lock = threading.Lock()  # guards self._connections
        self._connections: dict[socket.socket, threading.Thread] = {}
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the FQDN of the host, which can block on DNS.
        socketserver.TCPServer.server_bind(self)
        self.server_name = str(self.server_address[0])
        self.server_port = int(self.server_address[1])

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self.process_request_thread,
            args=(request, client_address),
            name="otelperf-receiver-http",
            daemon=True,
        )
        with self._lock:
            self._connections[request] = thread
        thread.start()

    def shutdown_request(self, request: Any) -> None:
        with self._lock:
            self._connections.pop(request, None)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that vanish mid-exchange (which fault tests provoke) are not errors here.
        _log.debug("otelperf receiver http: error serving %s", client_address, exc_info=True)

    def close_connections(self, *, deadline_monotonic_s: float) -> None:
        """Shut down open keep-alive connections and join their threads until the deadline."""
        with self._lock:
            connections = list(self._connections.items())
        for sock, _ in connections:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for _, thread in connections:
            thread.join(timeout=max(0.0, deadline_monotonic_s - time.monotonic()))


class HttpTransport:
    """A started HTTP server bound to ``host:port`` (``port=0`` picks a free port).

    Raises:
        OSError: From the constructor, if the address cannot be bound.
    """

    def __init__(
        self,
        *,
        host: str,
        port: int,
        store: RequestStore,
        stopping: threading.Event,
        max_body_bytes: int,
    ) -> None:
        """Bind and start serving on a daemon thread; `port` is the bound port afterwards."""
        self._server = _Server(
            (host, port), store=store, stopping=stopping, max_body_bytes=max_body_bytes
        )
        self.port: int = self._server.server_port
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},  # how quickly shutdown() is noticed
            name="otelperf-receiver-http-accept",
            daemon=True,
        )
        self._thread.start()

    def stop(self, *, timeout_s: float) -> None:
        """Stop accepting, close open connections and join threads, bounded by ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        self._server.shutdown()  # returns once serve_forever notices (within poll_interval)
        self._server.server_close()
        self._server.close_connections(deadline_monotonic_s=deadline)
        self._thread.join(timeout=max(0.0, deadline - time.monotonic()))

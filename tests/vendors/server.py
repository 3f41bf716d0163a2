"""A loopback HTTP(S) server that records vendor requests and decodes their wire format.

It stands in for Sentry, Datadog and New Relic intake in tests: real sockets on 127.0.0.1,
optional TLS with a certificate made by ``trustme`` (New Relic's SDK only speaks https), bodies
decoded from gzip, deflate, brotli and zstd. Replies follow a script so tests can inject
500s, 429 with ``Retry-After``, and stalls.
"""

from __future__ import annotations

import gzip
import json
import ssl
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import brotli
import trustme
import zstandard

STALL = "stall"
"""A scripted reply that holds the request unanswered for ``STALL_S`` or until ``close()``."""
STALL_S = 10.0


@dataclass(frozen=True)
class Request:
    """One request as the server saw it: path, lower-case headers, wire and decoded bodies."""

    method: str
    path: str
    headers: dict[str, str]
    raw: bytes
    body: bytes
    at_s: float = field(default_factory=time.monotonic)

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class Reply:
    """A scripted answer."""

    status: int = 202
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"{}"


def decode(body: bytes, encoding: str) -> bytes:
    """Undo a ``Content-Encoding`` (gzip, deflate, br, zstd/zstd1, or none)."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "deflate":
        return zlib.decompress(body)
    if encoding == "br":
        return bytes(brotli.decompress(body))
    if encoding in ("zstd", "zstd1"):
        return zstandard.ZstdDecompressor().decompressobj().decompress(body)
    raise ValueError(f"unknown Content-Encoding {encoding!r}")


class VendorServer:
    """ThreadingHTTPServer on 127.0.0.1 (ephemeral port), HTTP or HTTPS, recording requests.

    ``replies`` is consumed one per request (``default`` once empty); ``STALL`` (also as
    ``default``) holds the request for ``STALL_S`` or until ``close()``. ``ca_file`` is the PEM
    of the CA that signed the server certificate (TLS only): clients verify against it, nothing
    disables verification.
    """

    def __init__(self, *, tls: bool = False, tmp: Path | None = None) -> None:
        self.requests: list[Request] = []
        self.replies: deque[Reply | str] = deque()
        self.default: Reply | str = Reply()
        self._cond = threading.Condition()
        self._release = threading.Event()
        self.ca_file: str | None = None
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes: without this, Nagle + delayed ACK add
            # 40 ms to every keep-alive request.
            disable_nagle_algorithm = True

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                body = decode(raw, headers.get("content-encoding", ""))
                with server._cond:
                    server.requests.append(Request("POST", self.path, headers, raw, body))
                    reply = server.replies.popleft() if server.replies else server.default
                    server._cond.notify_all()
                if isinstance(reply, str):
                    server._release.wait(STALL_S)
                    self.close_connection = True
                    return
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        if tls:
            ca = trustme.CA()
            cert = ca.issue_cert("127.0.0.1", "localhost")
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            cert.configure_cert(context)
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
            folder = tmp or Path(self._tmpdir())
            self.ca_file = str(folder / "vendor-ca.pem")
            ca.cert_pem.write_to_path(self.ca_file)
        self.scheme = "https" if tls else "http"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    @staticmethod
    def _tmpdir() -> str:
        import tempfile

        return tempfile.mkdtemp(prefix="otelperf-vendor-")

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def wait_for(self, predicate: Callable[[list[Request]], bool], timeout_s: float = 5.0) -> bool:
        """Block until ``predicate(requests)`` holds; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self.requests), timeout=timeout_s)

    def wait_for_requests(self, count: int, timeout_s: float = 5.0) -> bool:
        return self.wait_for(lambda found: len(found) >= count, timeout_s)

    def paths(self) -> list[str]:
        with self._cond:
            return [r.path for r in self.requests]

    def close(self) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


@contextmanager
def vendor_server(*, tls: bool = False, tmp: Path | None = None) -> Iterator[VendorServer]:
    """Start a :class:`VendorServer` and close it afterwards."""
    server = VendorServer(tls=tls, tmp=tmp)
    try:
        yield server
    finally:
        server.close()


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])

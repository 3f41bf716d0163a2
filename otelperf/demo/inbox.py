"""``AlertInbox``: a loopback HTTP endpoint for the demo app's webhook alerts.

The demo points ``OTELPERF_ALERTS=webhook:<inbox.url>`` at it, so the alerts each gunicorn worker
raises travel the real webhook path (JSON ``Alert.to_dict()`` over HTTP) and appear in the live
view as they fire.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from otelperf.report.model import AlertEntry

__all__ = ["AlertInbox", "entry_of"]

_MAX_BODY = 1 << 20


def entry_of(payload: dict[str, Any]) -> AlertEntry:
    """The ``AlertEntry`` for one webhook payload (``Alert.to_dict()``).

    Raises:
        ValueError: The payload lacks the fields every otelperf alert has.
    """
    try:
        resource = payload.get("resource") or {}
        pid = resource.get("process.pid")
        source = f"pid {pid}" if pid is not None else str(payload["service"])
        return AlertEntry(
            t_s=float(payload.get("timestamp_ns") or time.time_ns()) / 1e9,
            source=source,
            kind=str(payload["kind"]),
            severity=str(payload["severity"]),
            title=str(payload["title"]),
            operation=payload.get("operation"),
        )
    except (KeyError, TypeError, AttributeError) as error:
        raise ValueError(f"not an otelperf alert: {error!r}") from None


class AlertInbox:
    """Receive alert webhooks on 127.0.0.1 and pass each to ``on_alert`` (server thread)."""

    def __init__(self, on_alert: Callable[[AlertEntry], None]) -> None:
        """Bind an ephemeral loopback port and start serving."""
        inbox = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(min(length, _MAX_BODY))
                try:
                    entry = entry_of(json.loads(body))
                except ValueError:
                    self.send_response(400)
                    self.end_headers()
                    return
                inbox.received += 1
                on_alert(entry)
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                """Keep the terminal for the live view."""

        self.received = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="otelperf-demo-inbox", daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        """Where to POST alerts."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/alerts"

    def close(self) -> None:
        """Stop serving; idempotent."""
        self._server.shutdown()
        self._server.server_close()

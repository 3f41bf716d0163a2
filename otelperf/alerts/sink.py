"""The interface every alert destination implements, and URL redaction for what sinks log.

A sink is anything with a ``name`` and a ``send(alert)`` method; it may also have ``close()``.
:class:`~otelperf.alerts.AlertDispatcher` calls both on a thread of its own per sink, never on
the application's threads, so a sink may block (within reason) and may raise: a failure is
logged once and counted, and the other sinks carry on.
"""

from __future__ import annotations

import urllib.parse
from typing import Protocol, runtime_checkable

from otelperf.alerts.alert import Alert

__all__ = ["AlertSink", "redact_url"]


@runtime_checkable
class AlertSink(Protocol):
    """An alert destination: a log, a callback, a webhook, a vendor.

    Contract for implementers:

    * ``send`` is called from one dispatcher thread at a time per sink (never concurrently for
      the same sink unless the same object is registered twice) and never on the application's
      threads. It may block on I/O; it should bound its own time. It signals failure by raising.
    * ``close()`` is optional. If present, the dispatcher calls it once at shutdown, on the same
      thread as ``send``, after the last alert was delivered.
    * ``name`` is short and contains no secrets: it appears in otelperf's own log messages and
      thread names.
    * A sink that holds sockets or locks and must survive ``os.fork()`` re-creates them itself;
      the dispatcher only re-creates its own threads and queues in the child.
    """

    @property
    def name(self) -> str:
        """Short label used in log messages and thread names, e.g. ``log`` or ``webhook``."""
        ...

    def send(self, alert: Alert) -> None:
        """Deliver one alert or raise an exception saying why it could not be delivered."""
        ...


def redact_url(url: str) -> str:
    """Return ``url`` without what may carry a secret: userinfo, query string and fragment.

    ``https://user:pw@hooks.example:8443/x?token=abc#f`` becomes ``https://hooks.example:8443/x``.
    Use it for every URL that goes into a log message, an exception or alert text (DESIGN §9).
    The path is kept, so a service that puts its token in the path (Slack-style webhooks) still
    needs that URL kept out of logs by other means.

    Never raises: text that does not parse as a URL is cut at the first ``?`` or ``#`` and
    after the last ``@`` before the path.
    """
    text = str(url)
    try:
        parts = urllib.parse.urlsplit(text)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        # An unparseable URL (bad port, broken IPv6 literal): cut by hand.
        head = text.split("?", 1)[0].split("#", 1)[0]
        scheme, sep, rest = head.rpartition("://")
        authority, slash, path = rest.partition("/")
        return f"{scheme}{sep}{authority.rpartition('@')[2]}{slash}{path}"
    if ":" in host:
        host = f"[{host}]"  # IPv6 literal
    netloc = f"{host}:{port}" if port is not None else host
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))

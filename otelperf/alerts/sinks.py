"""The two simplest sinks: write alerts to the ``otelperf.alerts`` logger, or call a function."""

from __future__ import annotations

import logging
from collections.abc import Callable

from otelperf.alerts.alert import Alert, AlertSeverity

__all__ = ["CallbackSink", "LogSink"]

# warning and resolved share a level so that whoever sees an alert also sees it end.
_LEVELS = {
    AlertSeverity.WARNING: logging.WARNING,
    AlertSeverity.ERROR: logging.ERROR,
    AlertSeverity.CRITICAL: logging.ERROR,
    AlertSeverity.RESOLVED: logging.WARNING,
}


class LogSink:
    """Log each alert as one line on the ``otelperf.alerts`` logger (or the one given).

    Levels: ``warning`` and ``resolved`` log at WARNING, ``error`` and ``critical`` at ERROR.
    The record carries the full alert as ``record.otelperf_alert`` (the :meth:`Alert.to_dict`
    dict) for structured log handlers. Sending never raises unless a logging handler does.
    """

    def __init__(self, *, logger: logging.Logger | None = None, name: str = "log") -> None:
        """Create the sink.

        Args:
            logger: Where to log; defaults to ``logging.getLogger("otelperf.alerts")``.
            name: The sink's name in otelperf's own log messages.
        """
        self._logger = logger if logger is not None else logging.getLogger("otelperf.alerts")
        self._name = name

    @property
    def name(self) -> str:
        """The sink's name (``log`` by default)."""
        return self._name

    def send(self, alert: Alert) -> None:
        """Log ``alert.title``, plus the example trace id when there is one."""
        trace = f" (example trace {alert.trace_id})" if alert.trace_id else ""
        self._logger.log(
            _LEVELS[alert.severity],
            "otelperf %s alert: %s%s",
            alert.kind.value,
            alert.title,
            trace,
            extra={"otelperf_alert": alert.to_dict()},
        )


class CallbackSink:
    """Call ``fn(alert)`` for each alert, on the sink's dispatcher thread.

    ``fn`` runs on a background thread, never on the application's request threads, one alert at
    a time. What it raises is logged once by the dispatcher and does not affect other sinks.
    Its return value is ignored.
    """

    def __init__(self, fn: Callable[[Alert], object], *, name: str | None = None) -> None:
        """Create the sink.

        Args:
            fn: Any callable taking one :class:`Alert`.
            name: The sink's name in log messages; defaults to ``callback:<fn's qualified name>``.

        Raises:
            TypeError: ``fn`` is not callable.
        """
        if not callable(fn):
            raise TypeError(f"CallbackSink needs a callable taking an Alert, got {fn!r}")
        self._fn = fn
        label = getattr(fn, "__qualname__", None) or type(fn).__qualname__
        self._name = name if name is not None else f"callback:{label}"

    @property
    def name(self) -> str:
        """The sink's name (``callback:<qualified name>`` by default)."""
        return self._name

    def send(self, alert: Alert) -> None:
        """Call the function with ``alert``; its exceptions propagate to the dispatcher."""
        self._fn(alert)

    def __repr__(self) -> str:
        """Show the wrapped callable."""
        return f"CallbackSink({self._fn!r})"

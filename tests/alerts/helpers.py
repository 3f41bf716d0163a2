"""Test helpers shared by the alert tests: alert factory, recording and blocking sinks."""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any

from otelperf.alerts import Alert, AlertKind, AlertSeverity, AlertUnit

HANG_S = 10.0


def make_alert(**overrides: Any) -> Alert:
    """A budget warning for GET /users; any field can be overridden."""
    alert = Alert(
        kind=AlertKind.BUDGET,
        severity=AlertSeverity.WARNING,
        service="shop",
        operation="GET /users",
        statistic="p99",
        budget="GET /users p99<250ms",
        actual=312.0,
        threshold=250.0,
        unit=AlertUnit.MS,
        window_s=60.0,
        timestamp_ns=1_700_000_000_000_000_000,
    )
    return replace(alert, **overrides)


class RecordingSink:
    """Remembers what it was sent, and on which thread; can fail on demand."""

    def __init__(self, name: str = "recording") -> None:
        self.name = name
        self.alerts: list[Alert] = []
        self.threads: list[str] = []
        self.fail = False
        self.closed_on: str | None = None
        self.received = threading.Event()

    def send(self, alert: Alert) -> None:
        if self.fail:
            raise RuntimeError("sink is down")
        self.alerts.append(alert)
        self.threads.append(threading.current_thread().name)
        self.received.set()

    def close(self) -> None:
        self.closed_on = threading.current_thread().name


class GateSink:
    """Blocks in send() until the gate opens (at most HANG_S), like a webhook to a dead host."""

    def __init__(self, name: str = "gate") -> None:
        self.name = name
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.calls: list[tuple[int, Alert]] = []

    def send(self, alert: Alert) -> None:
        self.calls.append((threading.get_ident(), alert))
        self.entered.set()
        self.gate.wait(HANG_S)


def record(alert: Alert) -> None:
    """A module-level callback for the ``callback:<module>:<function>`` spec tests."""
    RECORDED.append(alert)


RECORDED: list[Alert] = []

"""Alerts: the Alert record, the AlertSink protocol, the dispatcher and the built-in sinks.

Budgets, SLOs, regression and leak detection build :class:`Alert` values and hand them to an
:class:`AlertDispatcher`, which delivers them to every sink on background threads (DESIGN §8).
"""

from otelperf.alerts.alert import Alert, AlertKind, AlertSeverity, AlertUnit
from otelperf.alerts.dispatcher import AlertDispatcher
from otelperf.alerts.sink import AlertSink, redact_url
from otelperf.alerts.sinks import CallbackSink, LogSink
from otelperf.alerts.spec import VENDOR_SINKS, AlertSinkSpec, parse_alert_sinks
from otelperf.alerts.webhook import WebhookError, WebhookSink

__all__ = [
    "VENDOR_SINKS",
    "Alert",
    "AlertDispatcher",
    "AlertKind",
    "AlertSeverity",
    "AlertSink",
    "AlertSinkSpec",
    "AlertUnit",
    "CallbackSink",
    "LogSink",
    "WebhookError",
    "WebhookSink",
    "parse_alert_sinks",
    "redact_url",
]

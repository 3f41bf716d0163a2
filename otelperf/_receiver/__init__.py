"""An in-process OTLP receiver for otelperf's tests and for ``otelperf top``."""

from otelperf._receiver.faults import Fault, HttpDrop, Signal
from otelperf._receiver.receiver import OTLPReceiver
from otelperf._receiver.records import (
    AttributeValue,
    MetricPoint,
    MetricType,
    SpanRecord,
    Temporality,
    Transport,
)
from otelperf._receiver.store import Attempt, ExportRequest, Outcome, ReceivedRequest

__all__ = [
    "Attempt",
    "AttributeValue",
    "ExportRequest",
    "Fault",
    "HttpDrop",
    "MetricPoint",
    "MetricType",
    "OTLPReceiver",
    "Outcome",
    "ReceivedRequest",
    "Signal",
    "SpanRecord",
    "Temporality",
    "Transport",
]

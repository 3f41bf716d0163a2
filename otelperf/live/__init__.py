"""The live fleet view of ``otelperf demo`` and ``otelperf top``: merge OTLP, show it in a terminal.

``FleetMerger`` merges the ``otelperf.operation.duration`` exponential histograms that one or many
processes export into per-operation windows and timelines; ``ReceiverPump`` feeds it from an
``OTLPReceiver`` on a thread; ``frame``/``render`` draw the ``rich`` view.
"""

from otelperf.live.fleet import DURATION_METRIC, FleetMerger, OperationRow
from otelperf.live.pump import ReceiverPump
from otelperf.live.timeline import Timeline
from otelperf.live.view import Frame, frame, plain_lines, render

__all__ = [
    "DURATION_METRIC",
    "FleetMerger",
    "Frame",
    "OperationRow",
    "ReceiverPump",
    "Timeline",
    "frame",
    "plain_lines",
    "render",
]

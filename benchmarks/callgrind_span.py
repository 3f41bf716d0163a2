"""Deterministic request-thread cost: run under callgrind, diff instructions per span.

``valgrind --tool=callgrind --separate-threads=yes python benchmarks/callgrind_span.py MODE N``
with MODE ``bare`` or ``latency`` and N spans (no drain and no export happen while counting).
Per-span instructions of the main thread = (Ir at N=5000 - Ir at N=1000) / 4000, read from the
``*-01`` output file's ``summary:`` line. Instruction counts do not depend on machine load.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from otelperf.processors.aggregator import Aggregator
from otelperf.processors.latency import LatencyProcessor


class NoOpExporter(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def main() -> None:
    mode, n = sys.argv[1], int(sys.argv[2])
    provider = TracerProvider(shutdown_on_exit=False)
    if mode == "latency":
        aggregator = Aggregator(ring_size=1_000_000, interval_s=3600)  # no drain while counting
        provider.add_span_processor(LatencyProcessor(aggregator))
    provider.add_span_processor(
        BatchSpanProcessor(
            NoOpExporter(),
            schedule_delay_millis=3_600_000,
            max_queue_size=100_000,
            max_export_batch_size=100_000,
        )
    )
    tracer = provider.get_tracer("bench")
    for _ in range(200 + n):
        tracer.start_span("GET /users").end()
    os._exit(0)  # skip shutdown: only the span loop should differ between runs


if __name__ == "__main__":
    main()

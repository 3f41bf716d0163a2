"""Request-thread cost of a span while an export is stuck in a fault, vs. without the fault.

Not a benchmark (``benchmarks/bench_vendors.py`` is): a guard with generous bounds that the
exporter's fault handling never runs on, or blocks, the thread that ends spans.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable

from opentelemetry import trace


def span_cost_ns(tracer: trace.Tracer, *, spans: int = 500, rounds: int = 5) -> float:
    """Median over ``rounds`` of the mean wall time to start and end one span."""
    costs = []
    for _ in range(rounds):
        start = time.perf_counter_ns()
        for _ in range(spans):
            tracer.start_span("GET /measured", kind=trace.SpanKind.SERVER).end()
        costs.append((time.perf_counter_ns() - start) / spans)
    return statistics.median(costs)


def cost_during(
    tracer: trace.Tracer, blocked: Callable[[], object], *, settle_s: float = 0.2
) -> tuple[float, float, float]:
    """Span cost before, and while ``blocked()`` runs on another thread; and its duration.

    Returns:
        ``(baseline_ns, during_ns, blocked_s)``.
    """
    baseline = span_cost_ns(tracer)
    took: list[float] = []

    def run() -> None:
        start = time.monotonic()
        blocked()
        took.append(time.monotonic() - start)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    time.sleep(settle_s)  # let it reach the faulty request
    during = span_cost_ns(tracer)
    worker.join(30)
    assert not worker.is_alive(), "the export did not return within 30 s"
    return baseline, during, took[0]

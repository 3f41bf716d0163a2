"""Request-path cost of otelperf's span processing, as ratios against the bare SDK, one run.

Configurations (every one has a BatchSpanProcessor with a no-op exporter, like a real setup):
  bare        SDK + BSP                                       <- the baseline (ratio 1.00)
  latency     bare + LatencyProcessor (+ its aggregator thread)
  ratio.01    SDK + ParentBased(TraceIdRatioBased(0.01)) + BSP  (plain 1 % head sampling)
  all/roots/none  MeasureAllSampler(measure=...) around that 1 % sampler + LatencyProcessor

Two shapes: a flat span (``start_span().end()``) and a 5-span-deep trace (cost per span).
Cases are timed round-robin (each round times every case once) so machine drift hits all alike;
we report the median over rounds of ns per span: wall time, and the request thread's own CPU
(``time.thread_time_ns``: excludes the aggregator and BSP threads competing for the GIL).
The first table gives ratios against the bare SDK at ratio 1.0; the second gives the three
``measure_unsampled`` settings against the bare SDK at ratio 0.01 (what 1 % head sampling costs
without otelperf), both from the same rounds.

Also printed: aggregator CPU per span (draining a full ring on this thread) and the memory of
one isolated sub-window sketch (``bench_aggregates.py`` measures the whole store).

Run: ``.venv/bin/python benchmarks/bench_span_overhead.py [--rounds 15] [--spans 20000]``
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import ParentBased, Sampler, TraceIdRatioBased
from opentelemetry.trace import Tracer, set_span_in_context

from otelperf.aggregates import ExpSketch
from otelperf.processors.aggregator import Aggregator
from otelperf.processors.latency import LatencyProcessor
from otelperf.processors.sampling import MeasureAllSampler


class NoOpExporter(SpanExporter):
    def __init__(self) -> None:
        self.count = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.count += len(spans)
        return SpanExportResult.SUCCESS


class Case:
    def __init__(self, name: str, sampler: Sampler | None, latency: bool) -> None:
        self.name = name
        self.exporter = NoOpExporter()
        self.provider = TracerProvider(sampler=sampler, shutdown_on_exit=False)
        self.aggregator: Aggregator | None = None
        if latency:
            self.aggregator = Aggregator(ring_size=65536)
            self.provider.add_span_processor(LatencyProcessor(self.aggregator))
        self.provider.add_span_processor(BatchSpanProcessor(self.exporter))
        self.tracer: Tracer = self.provider.get_tracer("bench")
        self.wall: dict[str, list[float]] = {"flat": [], "deep": []}
        self.cpu: dict[str, list[float]] = {"flat": [], "deep": []}

    def close(self) -> None:
        self.provider.shutdown()


def flat(tracer: Tracer, n: int) -> int:
    for _ in range(n):
        tracer.start_span("GET /users").end()
    return n


def deep(tracer: Tracer, n: int) -> int:
    traces = n // 5
    for _ in range(traces):
        root = tracer.start_span("GET /orders")
        ctx = set_span_in_context(root)
        spans = []
        for depth in range(4):
            child = tracer.start_span(f"db.query.{depth}", context=ctx)
            ctx = set_span_in_context(child)
            spans.append(child)
        for child in reversed(spans):
            child.end()
        root.end()
    return traces * 5


def time_case(case: Case, shape: str, fn: Callable[[Tracer, int], int], n: int) -> None:
    wall0, cpu0 = time.perf_counter_ns(), time.thread_time_ns()
    spans = fn(case.tracer, n)
    wall1, cpu1 = time.perf_counter_ns(), time.thread_time_ns()
    case.wall[shape].append((wall1 - wall0) / spans)
    case.cpu[shape].append((cpu1 - cpu0) / spans)


def aggregator_cost(spans: int) -> float:
    """CPU ns per span to drain a full ring into the store (no thread competition)."""
    aggregator = Aggregator(ring_size=spans + 1, interval_s=3600)
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(LatencyProcessor(aggregator))
    tracer = provider.get_tracer("bench")
    names = [f"GET /route/{i}" for i in range(50)]
    for i in range(spans):
        tracer.start_span(names[i % 50]).end()
    cpu0 = time.thread_time_ns()
    aggregator.flush()
    cost = (time.thread_time_ns() - cpu0) / spans
    aggregator.shutdown()
    provider.shutdown()
    return cost


def on_end_cost(rounds: int, spans: int) -> tuple[float, float]:
    """Request-thread CPU ns of a bare span and of ``LatencyProcessor.on_end`` called alone.

    Interleaved rounds, medians; the ring is cleared between rounds so it never fills.
    """
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(BatchSpanProcessor(NoOpExporter()))
    tracer = provider.get_tracer("bench")
    aggregator = Aggregator(ring_size=spans + 1, interval_s=3600)
    processor = LatencyProcessor(aggregator)
    ended = tracer.start_span("GET /users")
    ended.end()
    assert isinstance(ended, ReadableSpan)  # the SDK's span
    bare, alone = [], []
    for _ in range(rounds):
        cpu0 = time.thread_time_ns()
        for _ in range(spans):
            tracer.start_span("GET /users").end()
        cpu1 = time.thread_time_ns()
        for _ in range(spans):
            processor.on_end(ended)
        cpu2 = time.thread_time_ns()
        aggregator.ring.clear()
        bare.append((cpu1 - cpu0) / spans)
        alone.append((cpu2 - cpu1) / spans)
    aggregator.shutdown()
    provider.shutdown()
    return statistics.median(bare), statistics.median(alone)


def sketch_memory() -> tuple[int, int]:
    """Bytes of one sub-window sketch for latencies spread over 3 decades (1 ms .. 1 s)."""
    sketch = ExpSketch()
    steps = 5000
    for i in range(steps):
        sketch.add(1e-3 * 1000 ** (i / (steps - 1)))
    return sketch.memory_bytes, sketch.scale


def print_table(cases: Sequence[Case], base: Case) -> None:
    """Print wall and CPU ns per span of each case, flat and deep, with ratios to ``base``."""
    header = f"{'configuration':28} {'flat wall':>10} {'ratio':>6} {'flat cpu':>9} {'ratio':>6}"
    header += f" {'deep wall':>10} {'ratio':>6} {'deep cpu':>9} {'ratio':>6}"
    print(header)
    for case in cases:
        row = f"{case.name:28}"
        for shape in ("flat", "deep"):
            wall = statistics.median(case.wall[shape])
            cpu = statistics.median(case.cpu[shape])
            bwall = statistics.median(base.wall[shape])
            bcpu = statistics.median(base.cpu[shape])
            row += f" {wall:10.0f} {wall / bwall:6.3f} {cpu:9.0f} {cpu / bcpu:6.3f}"
        print(row)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--spans", type=int, default=20000, help="spans per case per round")
    args = parser.parse_args()

    one_percent = ParentBased(TraceIdRatioBased(0.01))
    cases = [
        Case("bare (SDK+BSP)", None, latency=False),
        Case("+ latency processor", None, latency=True),
        Case("ratio 0.01, bare", one_percent, latency=False),
        Case("ratio 0.01, measure all", MeasureAllSampler(one_percent, measure="all"), True),
        Case("ratio 0.01, measure roots", MeasureAllSampler(one_percent, measure="roots"), True),
        Case("ratio 0.01, measure none", MeasureAllSampler(one_percent, measure="none"), True),
    ]
    for case in cases:  # warm-up
        flat(case.tracer, 2000)
        deep(case.tracer, 2000)
    for _ in range(args.rounds):
        for case in cases:
            time_case(case, "flat", flat, args.spans)
            time_case(case, "deep", deep, args.spans)
    for case in cases:
        case.close()

    base, sampled = cases[0], cases[2]
    print(f"ns per span, median of {args.rounds} rounds x {args.spans} spans; ratio vs bare SDK")
    print_table(cases, base)
    print(
        f"\nratio 0.01 with otelperf vs the bare SDK at ratio 0.01 ({sampled.name!r}), same rounds"
    )
    print_table(cases[3:], sampled)
    extra_cpu = statistics.median(cases[1].cpu["flat"]) / statistics.median(base.cpu["flat"]) - 1
    print(f"\nlatency processor, request-thread CPU added to the bare SDK span: {extra_cpu:+.2%}")
    bare_cpu, on_end_ns = on_end_cost(args.rounds, args.spans)
    print(
        f"LatencyProcessor.on_end alone: {on_end_ns:.0f} ns CPU = {on_end_ns / bare_cpu:.1%} "
        f"of a bare SDK span ({bare_cpu:.0f} ns CPU, same rounds)"
    )
    agg_ns = aggregator_cost(100_000)
    bare_ns = statistics.median(base.wall["flat"])
    print(f"aggregator CPU per span: {agg_ns:.0f} ns = {agg_ns / bare_ns:.1%} of a bare SDK span")
    memory, scale = sketch_memory()
    print(f"isolated sub-window sketch, 1 ms..1 s spread: {memory} B at scale {scale}")


if __name__ == "__main__":
    main()

"""Request-path cost of TailSamplingProcessor, as ratios against BatchSpanProcessor alone, one run.

Configurations (all: MeasureAllSampler around 1 % ParentBased head sampling, LatencyProcessor,
then the exporting processor; a BSP with a no-op exporter):
  bsp         ... + BSP                                   <- the baseline (ratio 1.00)
  tail        ... + TailSamplingProcessor(BSP)
  bare        plain SDK + 1 % head sampling + BSP (no otelperf), for scale
And at ratio 1.0 (every span head-sampled: the tail sampler's fast path):
  bsp 100%    MeasureAll(100 %) + Latency + BSP
  tail 100%   MeasureAll(100 %) + Latency + Tail(BSP)

Traffic: one trace in 100 has a failing span, so the tail sampler copies and exports ~1 % of
traces besides the head-sampled 1 % (as production would). Two shapes: single-span traces and
5-span traces (cost per span). Cases are timed round-robin so drift hits all alike; medians over
rounds of ns per span, wall and request-thread CPU (``time.thread_time_ns``).

Also printed: the cost of one kept copy (``kept_copy``) and the memory held per buffered span.

``--instructions`` (needs valgrind) counts instead of timing, which machine load cannot skew: each
configuration and shape runs under ``valgrind --tool=callgrind --separate-threads=yes`` for 1000
and 4000 spans, and the main thread's instructions per span are (Ir(4000) - Ir(1000)) / 3000.

Run: ``.venv/bin/python benchmarks/bench_tail_sampling.py [--rounds 15] [--spans 20000]``
     ``.venv/bin/python benchmarks/bench_tail_sampling.py --instructions``
"""

from __future__ import annotations

import argparse
import gc
import glob
import os
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Sequence

from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, Sampler
from opentelemetry.trace import Status, StatusCode, Tracer, set_span_in_context

from otelperf._sampler import ThresholdRatioSampler
from otelperf.processors._kept_span import kept_copy
from otelperf.processors.aggregator import Aggregator
from otelperf.processors.latency import LatencyProcessor
from otelperf.processors.sampling import MeasureAllSampler
from otelperf.processors.tail_sampling import TailSamplingProcessor

_ERROR = Status(StatusCode.ERROR)


class NoOpExporter(SpanExporter):
    def __init__(self) -> None:
        self.count = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.count += len(spans)
        return SpanExportResult.SUCCESS


class Case:
    def __init__(self, name: str, sampler: Sampler, *, latency: bool, tail: bool) -> None:
        self.name = name
        self.exporter = NoOpExporter()
        self.provider = TracerProvider(sampler=sampler, shutdown_on_exit=False)
        self.aggregator: Aggregator | None = None
        if latency:
            self.aggregator = Aggregator(ring_size=65536)
            self.provider.add_span_processor(LatencyProcessor(self.aggregator))
        # A queue that never fills: a full one logs "Queue full" on the request thread, which
        # would be measured as if it were our cost.
        processor: SpanProcessor = BatchSpanProcessor(
            self.exporter, max_queue_size=1_000_000, max_export_batch_size=4096
        )
        self.tail: TailSamplingProcessor | None = None
        if tail:
            self.tail = TailSamplingProcessor(processor, aggregator=self.aggregator, slow_ms=1000)
            processor = self.tail
        self.provider.add_span_processor(processor)
        self.tracer: Tracer = self.provider.get_tracer("bench")
        self.wall: dict[str, list[float]] = {"flat": [], "deep": []}
        self.cpu: dict[str, list[float]] = {"flat": [], "deep": []}

    def close(self) -> None:
        self.provider.shutdown()


def flat(tracer: Tracer, n: int) -> int:
    for i in range(n):
        span = tracer.start_span("GET /users")
        if i % 100 == 0:
            span.set_status(_ERROR)
        span.end()
    return n


def deep(tracer: Tracer, n: int) -> int:
    traces = n // 5
    for i in range(traces):
        root = tracer.start_span("GET /orders")
        ctx = set_span_in_context(root)
        spans = []
        for depth in range(4):
            child = tracer.start_span(f"db.query.{depth}", context=ctx)
            ctx = set_span_in_context(child)
            spans.append(child)
        if i % 100 == 0:
            spans[-1].set_status(_ERROR)
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


def copy_cost(n: int) -> tuple[float, float]:
    """ns per kept_copy of an ended 5-attribute span, and of reading its fields (the floor)."""
    provider = TracerProvider(shutdown_on_exit=False)
    ended = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(ended))
    attributes = {f"k{i}": f"value {i}" for i in range(5)}
    provider.get_tracer("bench").start_span("GET /users", attributes=attributes).end()
    [span] = ended.get_finished_spans()
    t0 = time.perf_counter_ns()
    for _ in range(n):
        kept_copy(span, "error")
    t1 = time.perf_counter_ns()
    for _ in range(n):
        dict(span.attributes or {})
    t2 = time.perf_counter_ns()
    provider.shutdown()
    return (t1 - t0) / n, (t2 - t1) / n


def buffered_bytes(traces: int) -> float:
    """Bytes of Python heap per span held by the buffer (open roots, 4 ended children each)."""
    sampler = MeasureAllSampler(ParentBased(ThresholdRatioSampler(0.0)))
    provider = TracerProvider(sampler=sampler, shutdown_on_exit=False)
    tail = TailSamplingProcessor(BatchSpanProcessor(NoOpExporter()), max_traces=traces * 2)
    provider.add_span_processor(tail)
    tracer = provider.get_tracer("bench")
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for _ in range(traces):
        root = tracer.start_span("GET /orders")  # never ended: its children stay buffered
        for depth in range(4):
            tracer.start_span(f"db.query.{depth}", context=set_span_in_context(root)).end()
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    spans = tail.buffered()[1]
    provider.shutdown()
    return held / spans


def _case(mode: str) -> Case:
    ratio = 1.0 if mode.endswith("100") else 0.01
    sampler = MeasureAllSampler(ParentBased(ThresholdRatioSampler(ratio)))
    return Case(mode, sampler, latency=True, tail=mode.startswith("tail"))


_MODES = ("bsp", "tail", "bsp100", "tail100")


def run_for_callgrind(mode: str, shape: str, spans: int) -> None:
    """The measured program: ``spans`` spans of ``shape`` in ``mode``, then exit at once."""
    case = _case(mode)
    run = flat if shape == "flat" else deep
    run(case.tracer, 1000)  # warm-up, same in both runs
    run(case.tracer, spans)
    os._exit(0)  # skip shutdown: only the span loop differs between the two runs


_SIZES = (1000, 4000)


def count_instructions() -> None:
    """Run every mode and shape under callgrind at two sizes; print instructions per span."""
    per_span: dict[tuple[str, str], float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for shape in ("flat", "deep"):
            for mode in _MODES:
                totals = []
                for spans in _SIZES:
                    out = os.path.join(tmp, f"{mode}.{shape}.{spans}")
                    command = ["valgrind", "--tool=callgrind", "--separate-threads=yes"]
                    command += [f"--callgrind-out-file={out}", sys.executable, __file__]
                    command += ["--callgrind-run", mode, shape, str(spans)]
                    subprocess.run(command, check=True, capture_output=True)
                    main_thread = sorted(glob.glob(out + "-*"))[0]  # thread 1: the main thread
                    with open(main_thread) as file:
                        summary = next(line for line in file if line.startswith("summary:"))
                    totals.append(int(summary.split()[1]))
                per_span[mode, shape] = (totals[1] - totals[0]) / (_SIZES[1] - _SIZES[0])
    print("callgrind instructions per span, main thread (1 trace in 100 fails)")
    print(f"{'mode':8} {'flat':>9} {'ratio':>6} {'5-deep':>9} {'ratio':>6}")
    for mode in _MODES:
        base = "bsp100" if mode.endswith("100") else "bsp"
        row = f"{mode:8}"
        for shape in ("flat", "deep"):
            value = per_span[mode, shape]
            row += f" {value:9.0f} {value / per_span[base, shape]:6.3f}"
        print(row)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--spans", type=int, default=20000, help="spans per case per round")
    parser.add_argument("--instructions", action="store_true", help="count with callgrind")
    parser.add_argument("--callgrind-run", nargs=3, metavar=("MODE", "SHAPE", "N"), help="internal")
    args = parser.parse_args()
    if args.callgrind_run:
        mode, shape, spans = args.callgrind_run
        run_for_callgrind(mode, shape, int(spans))
    if args.instructions:
        count_instructions()
        return

    one_percent = ParentBased(ThresholdRatioSampler(0.01))
    everything = ParentBased(ThresholdRatioSampler(1.0))
    measure = MeasureAllSampler(one_percent)
    cases = [
        Case("bsp (MeasureAll 1% + latency)", measure, latency=True, tail=False),
        Case("tail (same + tail sampling)", measure, latency=True, tail=True),
        Case("bare SDK, 1% head, BSP", one_percent, latency=False, tail=False),
        Case("bsp, 100% head", MeasureAllSampler(everything), latency=True, tail=False),
        Case("tail, 100% head", MeasureAllSampler(everything), latency=True, tail=True),
    ]
    for case in cases:  # warm-up
        flat(case.tracer, 2000)
        deep(case.tracer, 2000)
    for _ in range(args.rounds):
        for case in cases:
            time_case(case, "flat", flat, args.spans)
            time_case(case, "deep", deep, args.spans)
    exported = {case.name: case.exporter.count for case in cases}
    for case in cases:
        case.close()

    print(
        f"ns per span, median of {args.rounds} rounds x {args.spans} spans (1 trace in 100 fails)"
    )
    header = f"{'configuration':32} {'flat wall':>10} {'ratio':>6} {'flat cpu':>9} {'ratio':>6}"
    header += f" {'deep wall':>10} {'ratio':>6} {'deep cpu':>9} {'ratio':>6} {'exported':>9}"
    print(header)
    for case in cases:
        base = cases[3] if "100%" in case.name else cases[0]
        row = f"{case.name:32}"
        for shape in ("flat", "deep"):
            wall = statistics.median(case.wall[shape])
            cpu = statistics.median(case.cpu[shape])
            bwall = statistics.median(base.wall[shape])
            bcpu = statistics.median(base.cpu[shape])
            row += f" {wall:10.0f} {wall / bwall:6.3f} {cpu:9.0f} {cpu / bcpu:6.3f}"
        print(f"{row} {exported[case.name]:9d}")
    print("ratios: 1% rows vs 'bsp (MeasureAll 1% + latency)'; 100% rows vs 'bsp, 100% head'")
    for shape in ("flat", "deep"):
        added = statistics.median(cases[1].cpu[shape]) - statistics.median(cases[0].cpu[shape])
        print(f"tail sampling, request-thread CPU added per span ({shape}): {added:+.0f} ns")
    copy_ns, floor_ns = copy_cost(50_000)
    print(f"kept_copy of a 5-attribute span: {copy_ns:.0f} ns (dict copy alone: {floor_ns:.0f} ns)")
    print(f"memory held per buffered span: {buffered_bytes(5_000):.0f} B")


if __name__ == "__main__":
    main()

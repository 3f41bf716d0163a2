"""Request-path cost of SpanLeakProcessor (on_start + on_end), as a ratio against the bare SDK.

Configurations (both have a BatchSpanProcessor with a no-op exporter, like a real setup):
  bare        SDK + BSP                      <- the baseline (ratio 1.00)
  no-op       bare + a SpanProcessor that does nothing (the SDK's cost of one more processor)
  span leaks  bare + SpanLeakProcessor

Cases are timed round-robin in one run (each round times every case once) so machine drift hits
both alike; we report the median over rounds of ns per flat span (``start_span().end()``), wall
time and the request thread's own CPU (``time.thread_time_ns``). The added cost is the median of
the per-round differences (same round, so the BSP threads and machine load hit both sides), with
the interquartile range. The processor's own on_start+on_end, called directly on one span, is
timed too: it is the part that does not depend on the SDK's per-processor dispatch.

Also printed: the per-span cost of the registry entry the processor stores (a ``(name, start)``
tuple) against a weak reference to the span (the alternative the module docstring rejects), and
the off-path cost of one ``check()`` scan over 10 000 open spans.

Run: ``.venv/bin/python benchmarks/bench_span_leaks.py [--rounds 41] [--spans 5000]``
"""

from __future__ import annotations

import argparse
import statistics
import time
import weakref
from collections.abc import Sequence
from typing import cast

from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import Tracer

from otelperf.processors.span_leaks import SpanLeakProcessor


class NoOpExporter(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


class Case:
    def __init__(self, name: str, extra: SpanProcessor | None) -> None:
        self.name = name
        self.provider = TracerProvider(shutdown_on_exit=False)
        self.leaks = extra if isinstance(extra, SpanLeakProcessor) else None
        if extra is not None:
            self.provider.add_span_processor(extra)
        self.provider.add_span_processor(BatchSpanProcessor(NoOpExporter()))
        self.tracer: Tracer = self.provider.get_tracer("bench")
        self.wall: list[float] = []
        self.cpu: list[float] = []

    def run(self, n: int) -> None:
        start_span = self.tracer.start_span
        wall0, cpu0 = time.perf_counter_ns(), time.thread_time_ns()
        for _ in range(n):
            start_span("GET /users").end()
        self.wall.append((time.perf_counter_ns() - wall0) / n)
        self.cpu.append((time.thread_time_ns() - cpu0) / n)


def direct_cost(n: int) -> float:
    """Best-of-7 ns for one on_start + on_end pair called directly (no SDK dispatch)."""
    provider = TracerProvider(shutdown_on_exit=False)
    span = cast(Span, provider.get_tracer("bench").start_span("GET /users"))
    leaks = SpanLeakProcessor()
    on_start, on_end = leaks.on_start, leaks.on_end
    best = float("inf")
    for _ in range(7):
        t0 = time.perf_counter_ns()
        for _ in range(n):
            on_start(span)
            on_end(span)
        best = min(best, (time.perf_counter_ns() - t0) / n)
    return best


def paired(case: list[float], base: list[float]) -> tuple[float, float, float]:
    """Median and quartiles of the per-round differences case - base."""
    q1, median, q3 = statistics.quantiles([c - b for c, b in zip(case, base, strict=True)], n=4)
    return median, q1, q3


def entry_costs(n: int, rounds: int) -> tuple[float, float]:
    """Median ns to store then pop one registry entry: (name, start) tuple vs weakref.ref(span)."""
    provider = TracerProvider(shutdown_on_exit=False)
    tracer = provider.get_tracer("bench")
    spans = [cast(Span, tracer.start_span("GET /users")) for _ in range(n)]
    keyed = [(span.context.span_id, span) for span in spans]
    clock = time.monotonic_ns
    tuples: list[float] = []
    refs: list[float] = []
    for _ in range(rounds):
        registry: dict[int, object] = {}
        t0 = time.perf_counter_ns()
        for span_id, span in keyed:
            registry[span_id] = (span.name, clock())
        for span_id, _ in keyed:
            registry.pop(span_id, None)
        tuples.append((time.perf_counter_ns() - t0) / n)
        t0 = time.perf_counter_ns()
        for span_id, span in keyed:
            registry[span_id] = weakref.ref(span)
        for span_id, _ in keyed:
            registry.pop(span_id, None)
        refs.append((time.perf_counter_ns() - t0) / n)
    return statistics.median(tuples), statistics.median(refs)


def scan_cost(open_spans: int) -> float:
    """Milliseconds for one check() over ``open_spans`` open spans of 50 names, all leaking."""
    leaks = SpanLeakProcessor(leak_after_s=0.001, max_open=open_spans)
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(leaks)
    tracer = provider.get_tracer("bench")
    held = [tracer.start_span(f"GET /route/{i % 50}") for i in range(open_spans)]
    time.sleep(0.002)
    timings = []
    for _ in range(20):
        t0 = time.perf_counter_ns()
        report = leaks.check()
        timings.append((time.perf_counter_ns() - t0) / 1e6)
    assert report.total == len(held)
    return statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=41)
    parser.add_argument("--spans", type=int, default=5000, help="spans per case per round")
    args = parser.parse_args()

    cases = [
        Case("bare (SDK+BSP)", None),
        Case("+ no-op processor", SpanProcessor()),
        Case("+ span leak processor", SpanLeakProcessor()),
    ]
    for case in cases:  # warm-up
        case.run(2000)
        case.wall.clear()
        case.cpu.clear()
    for _ in range(args.rounds):
        for case in cases:
            case.run(args.spans)
    for case in cases:
        case.provider.shutdown()
    leaked = cases[2].leaks.open_spans() if cases[2].leaks is not None else 0

    base, noop, leaks = cases
    bwall, bcpu = statistics.median(base.wall), statistics.median(base.cpu)
    print(f"ns per flat span, median of {args.rounds} rounds x {args.spans} spans, round-robin")
    print(f"{'configuration':24} {'wall':>8} {'ratio':>6} {'cpu':>8} {'ratio':>6}")
    for case in cases:
        wall, cpu = statistics.median(case.wall), statistics.median(case.cpu)
        print(f"{case.name:24} {wall:8.0f} {wall / bwall:6.3f} {cpu:8.0f} {cpu / bcpu:6.3f}")
    for case in (noop, leaks):
        dwall, wq1, wq3 = paired(case.wall, base.wall)
        dcpu, cq1, cq3 = paired(case.cpu, base.cpu)
        print(
            f"{case.name} adds per span: wall {dwall:+.0f} ns (IQR {wq1:+.0f}..{wq3:+.0f}, "
            f"{dwall / bwall:+.1%}), request-thread CPU {dcpu:+.0f} ns "
            f"(IQR {cq1:+.0f}..{cq3:+.0f}, {dcpu / bcpu:+.1%})"
        )
    print(f"spans left open in the registry after the run: {leaked}")
    print(f"on_start + on_end called directly: {direct_cost(100_000):.0f} ns")
    as_tuple, as_ref = entry_costs(20000, args.rounds)
    print(f"registry entry set+pop: (name, start) tuple {as_tuple:.0f} ns, weakref {as_ref:.0f} ns")
    print(f"check() over 10000 open spans, 50 names: {scan_cost(10_000):.2f} ms")


if __name__ == "__main__":
    main()

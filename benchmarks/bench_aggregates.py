"""Micro benchmark of the pure percentile core: insert, merge, quantile and store costs.

Run: ``.venv/bin/python benchmarks/bench_aggregates.py [--skip-store-memory]``. Prints the
median of 7 repeats in ns per operation (per value for the batch inserts), the memory of one
isolated sketch, and the memory per operation of the real store in steady state
(``Aggregator`` + the metric export wrapper, measured with ``tracemalloc``; about 2 minutes).
Timings on a shared VM are noisy; compare rows measured in the same run.
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import random
import statistics
import time
import tracemalloc
from collections.abc import Callable
from functools import partial

from opentelemetry.sdk.metrics import Histogram
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    ConsoleMetricExporter,
    MetricsData,
)
from opentelemetry.sdk.resources import Resource

from otelperf.aggregates import ExpSketch, KeyedWindows, SlidingWindow
from otelperf.exporters.operation_metrics import OperationMetricsExporter
from otelperf.processors.aggregator import Aggregator
from otelperf.testing import FakeClock

REPEATS = 7
S = 1_000_000_000


def lognormal_seconds(n: int, *, seed: int = 1) -> list[float]:
    """Latencies around 20 ms (sigma 0.8): about 3 decades from min to max."""
    rng = random.Random(seed)
    return [rng.lognormvariate(math.log(0.02), 0.8) for _ in range(n)]


def measure(label: str, run: Callable[[], object], operations: int) -> None:
    """Print the median ns per operation of ``run`` over REPEATS repeats."""
    samples = []
    for _ in range(REPEATS):
        start = time.perf_counter_ns()
        run()
        samples.append((time.perf_counter_ns() - start) / operations)
    print(f"{label:<52} {statistics.median(samples):>12,.0f} ns/op  (min {min(samples):,.0f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--skip-store-memory",
        action="store_true",
        help="timings only (the store part takes ~2 min)",
    )
    args = parser.parse_args()
    values = lognormal_seconds(100_000)
    warm = ExpSketch()
    warm.add_many(values)  # reach the final scale so inserts below take the steady path

    def add_each() -> None:
        for value in values[:20_000]:
            warm.add(value)

    measure("ExpSketch.add_many, per value", lambda: warm.add_many(values), len(values))
    measure("ExpSketch.add, per value (incl. loop)", add_each, 20_000)

    operations = [f"GET /route/{i}" for i in range(100)]
    items = [
        (operations[i % 100], "server", int(v * 1e9), i % 50 == 0) for i, v in enumerate(values)
    ]
    store = KeyedWindows()
    clock = [0]

    def add_batch() -> None:
        clock[0] += S // 10
        store.add_batch(items, clock[0])

    measure("KeyedWindows.add_batch (100 keys), per item", add_batch, len(items))

    other = ExpSketch()
    other.add_many(lognormal_seconds(10_000, seed=2))
    measure("ExpSketch.merge (3 decades, same scale)", lambda: warm.copy().merge(other), 1)
    measure("ExpSketch.copy", warm.copy, 1)
    qs = (0.5, 0.9, 0.95, 0.99, 0.999)
    measure("ExpSketch.quantiles (5 quantiles)", lambda: warm.quantiles(qs), 1)
    measure("ExpSketch.count_over", lambda: warm.count_over(0.1), 1)
    measure("ExpSketch.buckets (export view)", warm.buckets, 1)

    window = SlidingWindow()
    for second in range(60):
        window.add_many(values[second * 1000 : (second + 1) * 1000], errors=0, now_ns=second * S)

    def snapshot_after_a_sample() -> None:
        window.add(0.02, is_error=False, now_ns=59 * S)
        window.snapshot(59 * S)

    def stats_after_a_sample() -> None:
        store.add_batch(items[:1], clock[0])
        store.stats(operations[0], clock[0])

    def all_stats_after_a_sample_each() -> None:
        store.add_batch(items[:100], clock[0])
        store.all_stats(clock[0])

    measure("SlidingWindow.snapshot, unchanged (cached)", lambda: window.snapshot(59 * S), 1)
    measure("SlidingWindow add + snapshot (copy + merge live)", snapshot_after_a_sample, 1)
    measure("SlidingWindow.cumulative (retired + 6 merges)", lambda: window.cumulative(59 * S), 1)
    measure(
        "KeyedWindows.stats, unchanged (cached)", lambda: store.stats(operations[0], clock[0]), 1
    )
    measure("KeyedWindows add 1 + stats (recomputed)", stats_after_a_sample, 1)
    measure(
        "KeyedWindows add 100 + all_stats (100 keys, all changed)", all_stats_after_a_sample_each, 1
    )

    three_decades = ExpSketch()
    three_decades.add_many([10 ** (-3 + 3 * i / 9_999) for i in range(10_000)])
    print(
        f"memory of one isolated 3-decade sketch: {three_decades.memory_bytes} B "
        f"(scale {three_decades.scale}, {len(three_decades.buckets().counts)} buckets, "
        f"{three_decades.memory_bytes / 1024:.2f} KiB)"
    )
    if args.skip_store_memory:
        return
    print("real store, steady state, ops with latencies spread log-uniformly over 1 ms-1 s:")
    for ops, per_sub_window in ((100, 300), (10, 12_000)):
        for delta in (False, True):
            per_op = store_bytes_per_operation(ops, per_sub_window, delta=delta)
            print(
                f"  {ops:>3} ops x {per_sub_window:>6,} samples/sub-window, "
                f"{'delta' if delta else 'cumulative':<10} export: {per_op:>7,.0f} B/op = "
                f"{per_op / SUB_WINDOWS / 1024:.2f} KiB per sub-window (target <= 4 KiB)"
            )


SUB_WINDOWS = 6


def store_bytes_per_operation(ops: int, per_sub_window: int, *, delta: bool) -> float:
    """Traced bytes per operation of a real store after 14 sub-windows (2.3 windows).

    Each sub-window (10 s of fake time) gets ``per_sub_window`` samples per operation in ten
    batches, then ``all_stats()`` and one metric export, as in production (the stats cache,
    the window snapshot, the closed-sub-window merge, the cumulative sketch and, with delta
    temporality, the exporter's copy of the last cumulative state all stay alive). The bytes
    of a 1-operation run are subtracted, so fixed costs (thread, lock, exporter) drop out.
    """
    return (_store_bytes(ops, per_sub_window, delta) - _store_bytes(1, per_sub_window, delta)) / (
        ops - 1
    )


def _add(batch: list[tuple[str, str, int, bool]], now_ns: int, store: KeyedWindows) -> None:
    store.add_batch(batch, now_ns)


def _store_bytes(ops: int, per_sub_window: int, delta: bool) -> int:
    rng = random.Random(ops)
    names = [f"GET /route/{i}" for i in range(ops)]
    temporality: dict[type, AggregationTemporality] | None = (
        {Histogram: AggregationTemporality.DELTA} if delta else None
    )
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    clock = FakeClock()
    aggregator = Aggregator(interval_s=3600, clock=clock, ring_size=16)
    with open(os.devnull, "w") as sink:
        inner = ConsoleMetricExporter(out=sink, preferred_temporality=temporality)
        exporter = OperationMetricsExporter(inner, aggregator, resource=Resource.create({}))
        for _ in range(14):
            for _ in range(10):
                batch = [
                    (name, "server", int(10 ** rng.uniform(-3, 0) * 1e9), False)
                    for name in names
                    for _ in range(per_sub_window // 10)
                ]
                aggregator.with_store(partial(_add, batch))
                clock.advance(seconds=1)  # ten batches per 10 s sub-window
            aggregator.all_stats()  # the result is dropped; the store keeps its cache
            exporter.export(MetricsData(resource_metrics=[]))
        del batch
        gc.collect()
        traced = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    aggregator.shutdown()
    return traced


if __name__ == "__main__":
    main()

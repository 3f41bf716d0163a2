"""Micro benchmark of the pure percentile core: insert, merge, quantile and store costs.

Run: ``.venv/bin/python benchmarks/bench_aggregates.py``. Prints the median of 7 repeats in
ns per operation (per value for the batch inserts) and the memory of one sketch. Timings on a
shared VM are noisy; compare rows measured in the same run.
"""

from __future__ import annotations

import math
import random
import statistics
import time
from collections.abc import Callable

from otelperf.aggregates import ExpSketch, KeyedWindows, SlidingWindow

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
        f"memory of one 3-decade sketch: {three_decades.memory_bytes} B "
        f"(scale {three_decades.scale}, {len(three_decades.buckets().counts)} buckets)"
    )


if __name__ == "__main__":
    main()

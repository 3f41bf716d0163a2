"""Cost of budget evaluation per budget per tick: 100 budgets x 500 operations.

Run: ``.venv/bin/python benchmarks/bench_budgets.py``. Target: <= 50 us per budget per tick.

1. The evaluator alone: the views precompute their quantiles, so the figure is the evaluator's
   own cost (matching, states, hysteresis, rate limiting), not the sketch's. Windows alternate
   between two sets of latencies so that some budgets change state on every tick.
2. The whole ``BudgetMonitor`` tick hook on a real aggregator store (FakeClock, 100 ms ticks,
   every operation busy on every tick), with 30 of the 100 budgets judged ``over 5m`` or
   ``over 1h``: live statistics, closed sub-windows, ``BlockWindows`` and the evaluator.
3. ``over`` windows alone: the cost of one closed sub-window for 500 operations, the memory
   per operation, and the p95/p99 error of a 1 h window against numpy's exact quantiles.
4. The request path when alerts look for example traces: the ring then holds each span over
   the lowest latency budget until the drain. Worst case (every span over it, as during an
   outage), with and without ``ExampleDuty``, against the LatencyProcessor alone and the bare
   SDK, timed round-robin in one run.

Times are the benchmark thread's CPU time (``time.thread_time_ns``), so other jobs on a shared
machine inflate them less than wall-clock time would (caches are still shared).
"""

from __future__ import annotations

import math
import statistics
import time
import tracemalloc
from collections.abc import Mapping

import numpy as np
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind, StatusCode, Tracer

from otelperf.aggregates import ExpSketch, KeyedWindows, WindowData
from otelperf.budgets import Budget, BudgetEvaluator
from otelperf.processors.aggregator import Aggregator
from otelperf.processors.budget_examples import ExampleTraces
from otelperf.processors.budget_windows import BLOCK_MAX_SIZE, BlockWindows
from otelperf.processors.budgets import BudgetMonitor
from otelperf.processors.latency import LatencyProcessor
from otelperf.testing import FakeClock

NS_PER_S = 1_000_000_000
TICKS = 300
REPEATS = 5


class View:
    """An operation in one window with its quantiles precomputed (as a sketch would cache)."""

    __slots__ = (
        "_sorted",
        "attributes",
        "count",
        "errors",
        "kind",
        "max_ms",
        "mean_ms",
        "operation",
    )

    def __init__(self, operation: str, kind: str, tenant: str, durations_ms: list[float]) -> None:
        self.operation = operation
        self.kind = kind
        self.attributes: Mapping[str, str] = {"tenant": tenant}
        self._sorted = sorted(durations_ms)
        self.count = len(durations_ms)
        self.errors = self.count // 50
        self.mean_ms = sum(durations_ms) / self.count
        self.max_ms = self._sorted[-1]

    def quantile(self, q: float) -> float:
        return self._sorted[max(0, math.ceil(q * self.count) - 1)]

    def count_over(self, threshold_ms: float) -> int:
        return sum(1 for duration in self._sorted if duration > threshold_ms)


def operations() -> list[tuple[str, str, str]]:
    """500 operations: 400 server routes over 4 API versions, 50 client calls, 50 consumers."""
    ops = [(f"GET /api/v{v}/resource{i}", "server", "acme" if i < 25 else "other")
           for v in range(1, 5) for i in range(100)]  # fmt: skip
    ops += [(f"db.query{i}", "client", "other") for i in range(50)]
    ops += [(f"task.run{i}", "consumer", "other") for i in range(50)]
    return ops


def budgets() -> list[Budget]:
    """100 budgets: 80 on one operation, 15 globs (~11 each), 3 by kind, 2 by attribute."""
    texts = [f"GET /api/v{1 + i % 4}/resource{i} p{95 if i % 2 else 99}<100ms" for i in range(80)]
    texts += [f"GET /api/v{1 + i % 4}/resource{i % 10}* p95<120ms" for i in range(15)]
    texts += ["kind=server p75<90ms", "kind=client p99<30ms", "kind=consumer error_rate<1%"]
    texts += ["attr.tenant=acme p95<80ms", "attr.tenant=other max<400ms"]
    return [Budget.parse(text) for text in texts]


def windows() -> tuple[dict[str, View], dict[str, View]]:
    """Two live windows; operations alternate around their thresholds between them."""
    pair: list[dict[str, View]] = [{}, {}]
    for index, (name, kind, tenant) in enumerate(operations()):
        base = 20.0 + index % 90
        for side, scale in ((0, 1.0), (1, 1.6 if index % 3 == 0 else 1.0)):
            durations = [base * scale * (1 + (j % 20) / 40) for j in range(60)]
            pair[side][name] = View(name, kind, tenant, durations)
    return pair[0], pair[1]


def run_once(evaluator: BudgetEvaluator, first: dict[str, View], second: dict[str, View]) -> float:
    """Return the mean ns per tick over TICKS ticks, 100 ms apart."""
    start = time.thread_time_ns()
    for tick in range(TICKS):
        evaluator.evaluate(tick * NS_PER_S // 10, first if tick % 2 else second)
    return (time.thread_time_ns() - start) / TICKS


def main() -> None:
    all_budgets = budgets()
    first, second = windows()
    evaluator = BudgetEvaluator(all_budgets, alert_interval_s=1)
    evaluator.evaluate(0, first)  # fills the match cache, as the first tick of a process would
    pairs = len(evaluator.report())
    per_tick_ns = min(run_once(evaluator, first, second) for _ in range(REPEATS))
    per_budget_us = per_tick_ns / len(all_budgets) / 1000
    print(f"budgets={len(all_budgets)} operations={len(first)} matched pairs={pairs}")
    print(f"per tick: {per_tick_ns / 1000:.0f} us  (best of {REPEATS} runs of {TICKS} ticks)")
    print(f"per budget per tick: {per_budget_us:.1f} us  (target <= 50 us)")
    print(f"per matched (budget, operation) pair: {per_tick_ns / pairs / 1000:.2f} us")

    unbudgeted = BudgetEvaluator([])  # every operation judged for regressions instead
    for index in range(12):
        unbudgeted.observe(index * 10 * NS_PER_S, first)
    regression_ns = min(run_once(unbudgeted, first, second) for _ in range(REPEATS))
    print(f"regressions only, {len(first)} operations: {regression_ns / 1000:.0f} us per tick")

    slos = BudgetEvaluator(
        [Budget.parse(f"GET /api/v{v}/* 99.9%<200ms over 30d") for v in range(1, 5)]
    )
    samples = []
    for index in range(50):
        start = time.thread_time_ns()
        slos.observe(index * 10 * NS_PER_S, first)
        samples.append(time.thread_time_ns() - start)
    median_us = statistics.median(samples) / 1000
    print(f"observe, 4 SLOs over {len(first)} operations: {median_us:.0f} us per sub-window")


def monitor_budgets() -> list[Budget]:
    """The 100 budgets, 20 of the single-route ones over 5 minutes and 10 over 1 hour."""
    texts = [budget.text for budget in budgets()]
    texts = [f"{t} over 5m" if i < 20 else f"{t} over 1h" if i < 30 else t
             for i, t in enumerate(texts)]  # fmt: skip
    return [Budget.parse(text) for text in texts]


def bench_monitor(all_budgets: list[Budget], *, precompute: bool, seconds: int = 60) -> float:
    """Return the BudgetMonitor hook's mean us per tick, all 500 operations busy every tick.

    With ``precompute`` the store's live statistics (``OperationStats`` of every changed
    operation, cached by the store) are computed untimed just before the hook, so the timed
    part is the monitor's own work: views, closed sub-windows, ``over`` windows, evaluator.
    """
    clock = FakeClock()
    aggregator = Aggregator(interval_s=3600, ring_size=1 << 20, clock=clock)
    monitor = BudgetMonitor(
        aggregator, lambda: BudgetEvaluator(all_budgets), dispatcher=None, service="bench"
    )
    spent: list[int] = []

    def timed(now_ns: int, store: KeyedWindows) -> None:
        if precompute:
            store.all_stats(now_ns)
        start = time.thread_time_ns()
        monitor(now_ns, store)
        spent.append(time.thread_time_ns() - start)

    aggregator.add_tick_hook(timed)
    ops = operations()
    kind = {"server": SpanKind.SERVER, "client": SpanKind.CLIENT, "consumer": SpanKind.CONSUMER}
    for tick in range(seconds * 10):
        clock.advance(ms=100)
        end_ns = clock.now_ns
        for index, (name, k, _tenant) in enumerate(ops):
            duration_ns = int((20 + index % 90) * (1 + (tick % 20) / 40) * 1e6)
            entry = (name, kind[k], end_ns - duration_ns, end_ns, StatusCode.UNSET, None, None)
            aggregator.ring.append(entry)
        aggregator.flush()
    aggregator.shutdown()
    return statistics.fmean(spent[len(spent) // 3 :]) / 1000  # once windows have data


def report_monitor() -> None:
    """Print the hook's cost with and without ``over`` windows, with and without statistics."""
    print("BudgetMonitor tick hook, 500 operations all changing every 100 ms tick (worst case):")
    for label, chosen in (("all live", budgets()), ("20 over 5m, 10 over 1h", monitor_budgets())):
        whole = bench_monitor(chosen, precompute=False)
        own = bench_monitor(chosen, precompute=True)
        print(
            f"  100 budgets ({label}): whole hook {whole:.0f} us per tick = "
            f"{whole / 100:.1f} us per budget per tick; without the store's live statistics "
            f"{own:.0f} us = {own / 100:.1f} us per budget per tick"
        )


SUB_NS = 10 * NS_PER_S  # sub-windows of 10 s, as with window_s = 60


def closed(slot: int, values_s: np.ndarray) -> WindowData:
    """One closed sub-window holding ``values_s``."""
    sketch = ExpSketch()
    sketch.add_many(values_s.tolist())
    return WindowData(sketch=sketch, errors=0, start_ns=slot * SUB_NS, end_ns=(slot + 1) * SUB_NS)


def bench_over_windows(max_size: int, operations_n: int = 500) -> None:
    """An ``over 1h`` window (12 blocks of 5 min) for ``operations_n`` operations."""
    rng = np.random.default_rng(7)
    # Lognormal around 50 ms, sigma 1: 99.9 % of requests between ~2 ms and ~1.1 s.
    pool = [rng.lognormal(math.log(0.05), 1.0, 300) for _ in range(32)]
    sketches = [closed(0, values).sketch for values in pool]

    def sub_window(slot: int, index: int) -> WindowData:
        sketch = sketches[(slot * 7 + index) % len(sketches)]
        return WindowData(sketch=sketch, errors=0, start_ns=slot * SUB_NS, end_ns=slot * SUB_NS)

    window = BlockWindows(
        window_s=3600, sub_window_ns=SUB_NS, max_operations=operations_n, max_size=max_size
    )
    tracemalloc.start()
    for slot in range(29, 360, 30):  # one sub-window per block: the 12 blocks of the hour
        for index in range(operations_n):
            window.add(f"op{index}", "server", sub_window(slot, index))
        window.advance(slot)
    views = window.views()
    per_op_bytes = tracemalloc.get_traced_memory()[0] / operations_n
    tracemalloc.stop()
    assert len(views) == operations_n
    costs = []
    for slot in range(360, 390):  # steady state: 30 sub-windows, one block completes
        start = time.thread_time_ns()
        for index in range(operations_n):
            window.add(f"op{index}", "server", sub_window(slot, index))
        window.advance(slot)
        for view in window.views().values():
            view.quantile(0.95)
        costs.append(time.thread_time_ns() - start)
    median_ms = statistics.median(costs) / 1e6
    # Accuracy: one operation, 200 requests per sub-window, against numpy's exact quantiles.
    one = BlockWindows(window_s=3600, sub_window_ns=SUB_NS, max_operations=1, max_size=max_size)
    values = {slot: rng.lognormal(math.log(0.05), 1.0, 200) for slot in range(400)}
    for slot, batch in values.items():
        one.add("op", "server", closed(slot, batch))
        one.advance(slot)
    view = one.views()["op"]
    oldest = (399 // 30 - one.blocks + 1) * 30  # 30 sub-windows per 5-minute block
    exact = np.concatenate([values[slot] for slot in range(oldest, 400)]) * 1000
    errors = [view.quantile(q) / float(np.quantile(exact, q)) - 1 for q in (0.95, 0.99)]
    print(
        f"over 1h, block sketches of max_size={max_size}: a closed sub-window for "
        f"{operations_n} operations costs {median_ms:.0f} ms (median: merge, view, p95) = "
        f"{median_ms * 1000 / operations_n:.0f} us per operation every 10 s, max "
        f"{max(costs) / 1e6:.0f} ms; {per_op_bytes / 1024:.1f} KiB per "
        f"operation; p95 {errors[0]:+.2%}, p99 {errors[1]:+.2%} vs exact ({view.count} requests)"
    )


def bench_request_path(rounds: int = 11, spans: int = 20_000) -> None:
    """Request-thread CPU per span, cases timed round-robin; medians and ratios to bare."""
    cases: dict[str, tuple[TracerProvider, Tracer, list[float]]] = {}
    budget = Budget.parse("GET /users p95<1us")  # every span is over it
    for name in (
        "bare SDK",
        "LatencyProcessor",
        "+ example watcher, every span kept",
        "+ BudgetMonitor (ExampleDuty), every span over",
    ):
        provider = TracerProvider(shutdown_on_exit=False)
        if name != "bare SDK":
            aggregator = Aggregator()  # default ring and 100 ms drains, as configured
            provider.add_span_processor(LatencyProcessor(aggregator))
            if "watcher" in name:
                examples = ExampleTraces([budget], key_of=aggregator.operation_key)
                aggregator.watch_slow(0, examples)
            elif "Monitor" in name:
                monitor = BudgetMonitor(
                    aggregator, lambda: BudgetEvaluator([budget]), dispatcher=None, service="b"
                )
                aggregator.add_tick_hook(monitor)
        cases[name] = (provider, provider.get_tracer("bench"), [])
    for _ in range(rounds):
        for _provider, tracer, costs in cases.values():
            start = time.thread_time_ns()
            for _ in range(spans):
                tracer.start_span("GET /users").end()
            costs.append((time.thread_time_ns() - start) / spans)
    bare = statistics.median(cases["bare SDK"][2])
    for name, (provider, _tracer, costs) in cases.items():
        median = statistics.median(costs)
        print(f"  {name}: {median:.0f} ns per span (request-thread CPU), {median / bare:.3f}x bare")
        provider.shutdown()


if __name__ == "__main__":
    main()
    report_monitor()
    for size in sorted({1024, BLOCK_MAX_SIZE}, reverse=True):
        bench_over_windows(size)
    print("request path with example traces (no exporter; median of 11 rounds x 20 000 spans):")
    bench_request_path()

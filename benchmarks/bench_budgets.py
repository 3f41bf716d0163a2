"""Cost of BudgetEvaluator per budget per tick: 100 budgets x 500 operations.

Run: ``.venv/bin/python benchmarks/bench_budgets.py``. Target: <= 50 us per budget per tick.

The views precompute their quantiles, so the figure is the evaluator's own cost (matching,
states, hysteresis, rate limiting), not the sketch's. Windows alternate between two sets of
latencies so that some budgets change state on every tick.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Mapping

from otelperf.budgets import Budget, BudgetEvaluator

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
    start = time.perf_counter_ns()
    for tick in range(TICKS):
        evaluator.evaluate(tick * NS_PER_S // 10, first if tick % 2 else second)
    return (time.perf_counter_ns() - start) / TICKS


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
        start = time.perf_counter_ns()
        slos.observe(index * 10 * NS_PER_S, first)
        samples.append(time.perf_counter_ns() - start)
    median_us = statistics.median(samples) / 1000
    print(f"observe, 4 SLOs over {len(first)} operations: {median_us:.0f} us per sub-window")


if __name__ == "__main__":
    main()

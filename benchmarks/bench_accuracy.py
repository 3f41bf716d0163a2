"""Percentile accuracy: otelperf's sketch vs the Collector spanmetrics default buckets.

For lognormal, bimodal and Pareto latencies (1,000,000 values each by default) prints the relative
error of p50/p90/p95/p99/p99.9 against numpy's exact quantiles for:
  * otelperf: the ``ExpSketch`` every operation is aggregated into (and exported as-is);
  * spanmetrics: the Collector's default explicit buckets (2,4,6,8,10,50,100,200,400,800,1000,
    1400,2000,5000,10000,15000 ms) read with Prometheus ``histogram_quantile`` interpolation.
Where a quantile falls in the gap between two modes (bimodal p90), any value between the two
neighbouring order statistics is exact; the table marks that cell "gap" and shows the error
against the nearer neighbour.

Run: ``.venv/bin/python benchmarks/bench_accuracy.py [--n 1000000]``
"""

from __future__ import annotations

import argparse

import numpy as np

from otelperf.aggregates import ExpSketch

QUANTILES = (0.5, 0.9, 0.95, 0.99, 0.999)
SPANMETRICS_MS = (2, 4, 6, 8, 10, 50, 100, 200, 400, 800, 1000, 1400, 2000, 5000, 10000, 15000)


def samples(shape: str, n: int) -> np.ndarray:
    rng = np.random.default_rng(42)
    if shape == "lognormal":
        return rng.lognormal(np.log(20), 0.8, n)
    if shape == "bimodal":
        return np.concatenate(
            [rng.lognormal(np.log(5), 0.25, n * 9 // 10), rng.lognormal(np.log(300), 0.25, n // 10)]
        )
    return (rng.pareto(1.5, n) + 1) * 5.0


def prometheus_quantile(values_ms: np.ndarray, q: float) -> float:
    bounds = np.array(SPANMETRICS_MS, dtype=float)
    counts = np.histogram(values_ms, bins=np.concatenate([[0.0], bounds, [np.inf]]))[0]
    cumulative = np.cumsum(counts)
    rank = q * cumulative[-1]
    i = int(np.searchsorted(cumulative, rank))
    if i >= len(bounds):  # +Inf bucket: Prometheus returns the highest finite bound
        return float(bounds[-1])
    lower = 0.0 if i == 0 else bounds[i - 1]
    below = 0 if i == 0 else cumulative[i - 1]
    return float(lower + (bounds[i] - lower) * (rank - below) / counts[i])


def error(got: float, values: np.ndarray, ordered: np.ndarray, q: float) -> tuple[float, bool]:
    rank = q * (len(ordered) - 1)
    low, high = ordered[int(np.floor(rank))], ordered[int(np.ceil(rank))]
    if high / low > 1.02:  # a gap between modes: anything in [low, high] is exact
        if low <= got <= high:
            return 0.0, True
        nearest = low if got < low else high
        return (got - nearest) / nearest, True
    exact = float(np.quantile(values, q))
    return (got - exact) / exact, False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    args = parser.parse_args()
    header = "".join(f"{'p' + format(q * 100, 'g'):>10}" for q in QUANTILES)
    print(f"relative error vs numpy exact quantiles, {args.n:,} values per shape")
    print(f"{'shape':10} {'method':12}{header}{'max |err|':>11}")
    for shape in ("lognormal", "bimodal", "pareto"):
        values = samples(shape, args.n)
        ordered = np.sort(values)
        sketch = ExpSketch()
        sketch.add_many((values / 1000.0).tolist())
        rows = {
            "otelperf": [sketch.quantile(q) * 1000.0 for q in QUANTILES],
            "spanmetrics": [prometheus_quantile(values, q) for q in QUANTILES],
        }
        for method, estimates in rows.items():
            cells, worst = "", 0.0
            for q, got in zip(QUANTILES, estimates, strict=True):
                err, gap = error(got, values, ordered, q)
                worst = max(worst, abs(err))
                cells += f"{err:+9.2%}{'g' if gap else ' '}"
            print(f"{shape:10} {method:12}{cells}{worst:>10.2%}")
        print(f"{'':10} {'':12}(otelperf sketch: scale {sketch.scale}, {sketch.memory_bytes} B)")
    print("g = quantile in a gap between modes: any value between the neighbours counts as exact")


if __name__ == "__main__":
    main()

"""What the fleet view costs per merged request, against what the request's span costs.

``otelperf top``/``demo`` merge every process's cumulative ``otelperf.operation.duration`` points:
per export, a difference of bucket arrays and a sketch rebuilt from it (O(values) until
``ExpSketch.from_buckets`` exists). This prints the merger's CPU per merged request next to the
bare OTel SDK's cost of starting and ending one span (no processor) measured in the same run, and
their ratio, for 3 processes x 10 operations exporting every second.

Run: ``.venv/bin/python benchmarks/bench_top.py [--rps 3000 --seconds 20]``
"""

from __future__ import annotations

import argparse
import random
import time

from opentelemetry.sdk.trace import TracerProvider

from otelperf.aggregates import ExpSketch
from otelperf.live.fleet import FleetMerger
from tests.live.points import duration_point

T0 = 1_800_000_000.0


def sdk_span_ns(count: int) -> float:
    tracer = TracerProvider().get_tracer("bench")
    began = time.perf_counter_ns()
    for _ in range(count):
        tracer.start_span("GET /x").end()
    return (time.perf_counter_ns() - began) / count


def merger_ns(rps: int, seconds: int, processes: int = 3, operations: int = 10) -> float:
    rng = random.Random(1)
    senders = {(p, o): ExpSketch() for p in range(processes) for o in range(operations)}
    per_stream = rps // (processes * operations)
    batches = []
    for second in range(1, seconds + 1):  # the points, built before timing
        points = []
        for (p, o), sketch in senders.items():
            sketch.add_many(rng.lognormvariate(-4 + o / 5, 0.6) for _ in range(per_stream))
            points.append(
                duration_point(
                    f"op{o}", sketch.buckets(), start_ns=p, time_ns=round((T0 + second) * 1e9)
                )
            )
        batches.append(points)
    merger = FleetMerger(started_s=T0 - 1)
    began = time.perf_counter_ns()
    for second, points in enumerate(batches, 1):
        merger.add_points(points, T0 + second)
        merger.rows(T0 + second)  # the view reads every refresh
    elapsed = time.perf_counter_ns() - began
    return elapsed / (per_stream * processes * operations * seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rps", type=int, default=3000, help="requests/s over the fleet")
    parser.add_argument("--seconds", type=int, default=20)
    args = parser.parse_args()
    span = sdk_span_ns(50_000)
    merge = merger_ns(args.rps, args.seconds)
    print(f"bare SDK span start+end:        {span:8.0f} ns per request")
    print(
        f"fleet merge (incl. view reads): {merge:8.0f} ns per request "
        f"({args.rps} rps, 3 processes x 10 operations, 1 s exports)"
    )
    print(f"ratio merge / span:             {merge / span:8.2f}")
    print(f"CPU of the view at that rate:   {merge * args.rps / 1e9:8.1%} of one core")


if __name__ == "__main__":
    main()

"""Whole-app overhead: Flask under gunicorn (4 sync workers), bare vs upstream distro vs otelperf.

Three copies of ``tests/e2e/apps/flask_app.py`` run side by side on 127.0.0.1:
  bare       gunicorn alone                                              <- ratio 1.00
  upstream   ``opentelemetry-instrument --distro distro`` (opentelemetry-distro's configurator)
  otelperf   ``opentelemetry-instrument --distro otelperf`` with budgets, alerts, slow spans,
             memory and span-leak watching on (everything otelperf ships that a user turns on)
Both instrumented copies export OTLP/gRPC to one in-process receiver with the default batch and
metric intervals. Each round loads every copy in turn (the order rotates) from a separate
load-generator process (closed loop, ``--concurrency`` connections, ``--requests`` requests), so
machine drift hits all alike. Reported: requests/s, p50 and p99 latency (client side) per copy,
the median over rounds, and the ratios otelperf/upstream (the issue's targets: throughput
>= 0.97, p99 <= 1.05) and each/bare.

The machine has 2 cores shared with the load generator and the receiver: throughput is bounded
by both, identically for the three copies.

Run: ``.venv/bin/python benchmarks/e2e_overhead.py [--rounds 5] [--requests 1500]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from otelperf._receiver import OTLPReceiver
from tests.e2e.harness import (
    BIN,
    Load,
    free_port,
    gunicorn,
    instrument,
    load,
    plain_env,
    run_app,
    telemetry_env,
)

PATHS = ["/users", "/users/1", "/users/9"]
OTELPERF_ALL_ON = {
    "OTELPERF_BUDGETS": "GET /users p99<250ms; GET /users/<int:user_id> p95<100ms",
    "OTELPERF_ALERTS": "log",
    "OTELPERF_SLOW_MS": "200",
    "OTELPERF_SPAN_LEAK_AFTER_S": "60",
}


def commands(port: int, variant: str) -> list[str]:
    app = gunicorn("flask_app:app", port, workers=4)
    if variant == "bare":
        return app
    if variant == "upstream":
        distro = ["--distro", "distro", "--configurator", "configurator"]
        return [str(BIN / "opentelemetry-instrument"), *distro, *app]
    return instrument(*app)


def environment(variant: str, receiver: OTLPReceiver) -> dict[str, str]:
    if variant == "bare":
        return plain_env()
    env = telemetry_env(receiver.grpc_endpoint, "grpc")
    for name in ("OTEL_BSP_SCHEDULE_DELAY", "OTEL_METRIC_EXPORT_INTERVAL"):
        del env[name]  # the SDK defaults (5 s, 60 s), as in production
    if variant == "otelperf":
        env.update(OTELPERF_ALL_ON)
    return env


def summary(loads: list[Load]) -> dict[str, float]:
    return {
        "rps": statistics.median(x.rps for x in loads),
        "p50_ms": statistics.median(x.quantile_ms(0.5) for x in loads),
        "p99_ms": statistics.median(x.quantile_ms(0.99) for x in loads),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=1500)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    variants = ["bare", "upstream", "otelperf"]
    results: dict[str, list[Load]] = {v: [] for v in variants}
    with OTLPReceiver(max_requests=1000) as receiver:
        apps = {}
        stack = []
        for variant in variants:
            port = free_port()
            context = run_app(commands(port, variant), port, environment(variant, receiver))
            apps[variant] = context.__enter__()
            stack.append(context)
        try:
            for app in apps.values():  # warm-up: imports, first requests, JIT-free caches
                load(app.base_url, PATHS, requests=300, concurrency=args.concurrency)
            for round_no in range(args.rounds):
                order = variants[round_no % 3 :] + variants[: round_no % 3]
                for variant in order:
                    result = load(
                        apps[variant].base_url,
                        PATHS,
                        requests=args.requests,
                        concurrency=args.concurrency,
                    )
                    if result.errors:
                        raise SystemExit(f"{variant}: {result.errors[:3]}")
                    results[variant].append(result)
                line = {v: round(results[v][-1].rps) for v in variants}
                print(f"round {round_no + 1}: rps {line}", flush=True)
        finally:
            for context in reversed(stack):
                context.__exit__(None, None, None)
    for variant in ("upstream", "otelperf"):  # a disabled distro would make the ratios moot
        if "otelperf disabled" in apps[variant].output or "Traceback" in apps[variant].output:
            raise SystemExit(f"{variant} did not run cleanly:\n{apps[variant].output[-2000:]}")
    if not receiver.spans():
        raise SystemExit("no span reached the receiver: the instrumented copies did not export")
    medians = {v: summary(results[v]) for v in variants}
    print()
    print(f"{'variant':<10} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}   (median of {args.rounds})")
    for variant, m in medians.items():
        print(f"{variant:<10} {m['rps']:>8.0f} {m['p50_ms']:>8.2f} {m['p99_ms']:>8.2f}")
    up, op, bare = medians["upstream"], medians["otelperf"], medians["bare"]
    ratios = {
        "otelperf/upstream rps": op["rps"] / up["rps"],
        "otelperf/upstream p50": op["p50_ms"] / up["p50_ms"],
        "otelperf/upstream p99": op["p99_ms"] / up["p99_ms"],
        "upstream/bare rps": up["rps"] / bare["rps"],
        "otelperf/bare rps": op["rps"] / bare["rps"],
        "otelperf/bare p99": op["p99_ms"] / bare["p99_ms"],
    }
    print()
    for name, value in ratios.items():
        print(f"{name:<24} {value:.3f}")
    verdict = ratios["otelperf/upstream rps"] >= 0.97 and ratios["otelperf/upstream p99"] <= 1.05
    print(f"target (rps >= 0.97, p99 <= 1.05 of upstream): {'met' if verdict else 'NOT met'}")
    print(json.dumps({"medians": medians, "ratios": ratios}))


if __name__ == "__main__":
    main()

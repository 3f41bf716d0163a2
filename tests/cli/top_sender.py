"""A process that ends spans of known durations under otelperf and exports them over OTLP.

``python -m tests.cli.top_sender SEED COUNT``: configures otelperf from the environment
(``OTEL_EXPORTER_OTLP_*``), ends COUNT spans named ``GET /work`` whose durations are drawn from a
lognormal that depends on SEED, shuts down (the final metric export) and prints the durations in
seconds as a JSON list.
"""

from __future__ import annotations

import json
import random
import sys
import time

import otelperf


def main() -> int:
    seed, count = int(sys.argv[1]), int(sys.argv[2])
    rng = random.Random(seed)
    handle = otelperf.configure(service_name="top-test")
    assert handle.tracer_provider is not None
    tracer = handle.tracer_provider.get_tracer("top-test")
    durations = []
    for _ in range(count):
        duration_ns = round(rng.lognormvariate(-5 + seed, 0.6) * 1e9)
        end_ns = time.time_ns()
        tracer.start_span("GET /work", start_time=end_ns - duration_ns).end(end_time=end_ns)
        durations.append(duration_ns / 1e9)
    time.sleep(0.3)  # one aggregator tick, then shutdown exports the final cumulative point
    otelperf.shutdown(timeout_s=10)
    sys.stdout.write(json.dumps(durations) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Reproduce the request hang of gunicorn workers forked during a metric collection.

Not a pytest module (it takes ~90 s and is statistical): run it by hand, before and after a
fix, and compare the ``WORKER TIMEOUT`` counts::

    .venv/bin/python -m tests.e2e.repro_fork_hang            # installed otelperf
    E2E_OTELPERF_PATH=/patched/tree .venv/bin/python -m tests.e2e.repro_fork_hang

gunicorn (3 workers, ``--preload``, worker timeout 8 s) serves ``heavy_metrics_app`` whose
master holds a 30 000-series counter, with a 300 ms metric interval, so the master is often in
the middle of a collection. Each round SIGKILLs all workers; gunicorn forks replacements, and a
load of 60 requests follows. A replacement forked mid-collection blocks on its first request
(inherited ``MetricReaderStorage`` lock) until gunicorn kills it: each such kill is logged as
``WORKER TIMEOUT``. Measured on 2026-11-23: 12 timeouts after 46 killed workers as installed,
0 after 44 with ``ForkSafePeriodicReader`` (and 8 after 7 in a 3-round run as installed).
"""

from __future__ import annotations

import argparse
import time

import psutil

from otelperf._receiver import OTLPReceiver
from tests.e2e.harness import free_port, gunicorn, instrument, load, run_app, telemetry_env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=8)
    args = parser.parse_args()
    respawns = slow_rounds = 0
    with OTLPReceiver() as receiver:
        port = free_port()
        env = telemetry_env(
            receiver.http_endpoint, "http/protobuf", OTEL_METRIC_EXPORT_INTERVAL="300"
        )
        command = instrument(*gunicorn("heavy_metrics_app:app", port, workers=3, preload=True))
        command[-1:-1] = ["--timeout", "8"]
        with run_app(command, port, env, stop_timeout_s=20) as app:
            for round_no in range(args.rounds):
                old = {w.pid for w in app.workers()}
                for pid in old:
                    psutil.Process(pid).kill()
                respawns += len(old)
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline:
                    pids = {w.pid for w in app.workers()}
                    if len(pids) == 3 and not pids & old:
                        break
                    time.sleep(0.05)
                seen = load(app.base_url, ["/users"], requests=60, concurrency=6, max_s=15)
                slowest_ms = max(seen.latencies_ms, default=0.0)
                slow_rounds += slowest_ms > 2000 or bool(seen.errors)
                print(f"round {round_no + 1}: slowest request {slowest_ms:.0f} ms", flush=True)
    timeouts = app.output.count("WORKER TIMEOUT")
    # A worker gunicorn killed for a timeout is respawned too, and may hang again.
    print(f"{timeouts} WORKER TIMEOUT after {respawns} killed workers; {slow_rounds} slow rounds")


if __name__ == "__main__":
    main()

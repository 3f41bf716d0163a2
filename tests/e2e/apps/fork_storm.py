"""Fork again and again while otelperf's threads hold their locks; report children that hang.

Run under ``opentelemetry-instrument --distro otelperf``. Two threads keep the aggregator busy
(one ends spans, one reads ``otelperf.stats()`` under the store lock) while the main thread
forks ``FORKS`` times. Each child ends a span, drains the ring and reads the statistics (every
lock otelperf's request path and aggregator use), then leaves. A child that does not finish
within 5 s is deadlocked: it is killed and counted. Prints one JSON line.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time

from opentelemetry import trace

import otelperf
from otelperf import _configure

FORKS = int(sys.argv[1]) if len(sys.argv) > 1 else 100


def busy(stop: threading.Event) -> None:
    """End spans without pause."""
    tracer = trace.get_tracer("e2e.storm")
    while not stop.is_set():
        with tracer.start_as_current_span("storm.op"):
            pass


def reader(stop: threading.Event) -> None:
    """Read statistics without pause (holds the aggregator's store lock)."""
    while not stop.is_set():
        otelperf.stats()


def child() -> None:
    """In the child: use every lock of the span path and the aggregator, then leave."""
    tracer = trace.get_tracer("e2e.storm")
    with tracer.start_as_current_span("child.op"):
        pass
    handle = _configure.current()
    if handle is not None and handle.aggregator is not None:
        handle.aggregator.flush()
    stats = otelperf.stats()
    os._exit(0 if "child.op" in stats else 3)


def main() -> None:
    """Fork FORKS times under load; print how many children hung or failed."""
    stop = threading.Event()
    threads = [threading.Thread(target=f, args=(stop,), daemon=True) for f in (busy, reader)]
    for thread in threads:
        thread.start()
    hung = failed = 0
    began = time.monotonic()
    for _ in range(FORKS):
        pid = os.fork()
        if pid == 0:
            child()
        deadline = time.monotonic() + 5
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                failed += os.waitstatus_to_exitcode(status) != 0
                break
            if time.monotonic() > deadline:
                hung += 1
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                break
            time.sleep(0.002)
    stop.set()
    elapsed = time.monotonic() - began
    print(json.dumps({"forks": FORKS, "hung": hung, "failed": failed, "elapsed_s": elapsed}))


if __name__ == "__main__":
    main()

"""A batch job that fans work out to ``multiprocessing`` children (fork start method).

Run under ``opentelemetry-instrument --distro otelperf``. Each child ends ``SPANS`` spans named
``job.task`` and returns; the parent prints the children's pids as JSON. With ``--flush`` each
child calls ``otelperf.shutdown()`` before it returns (``multiprocessing`` children leave
with ``os._exit``, so ``atexit`` hooks, otelperf's included, do not run in them).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sys

from opentelemetry import trace

import otelperf

SPANS = 50


def task(flush: bool, pids: multiprocessing.SimpleQueue[int]) -> None:
    """End SPANS spans in this child; put its pid on ``pids``."""
    tracer = trace.get_tracer("e2e.job")
    for i in range(SPANS):
        with tracer.start_as_current_span("job.task") as span:
            span.set_attribute("i", i)
    if flush:
        otelperf.shutdown(timeout_s=5)
    pids.put(os.getpid())


def main() -> None:
    """Run three children at once, one task each, and print their pids."""
    flush = "--flush" in sys.argv
    context = multiprocessing.get_context("fork")
    pids: multiprocessing.SimpleQueue[int] = context.SimpleQueue()
    children = [context.Process(target=task, args=(flush, pids)) for _ in range(3)]
    for child in children:
        child.start()
    for child in children:
        child.join(30)
    found = sorted(pids.get() for _ in children)
    print(json.dumps({"parent": os.getpid(), "children": found}), flush=True)


if __name__ == "__main__":
    main()

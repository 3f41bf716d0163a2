"""Request-thread cost of a span while a vendor exporter is healthy or failing, vs the bare SDK.

Every case is an SDK ``TracerProvider`` whose spans are exported continuously (BSP every 50 ms)
while the request thread ends spans; the vendor cases add otelperf's ``LatencyProcessor`` and
send to a loopback intake (``tests/vendors/server.py``) that is healthy, down (closed port),
answers 500, answers 429 with ``Retry-After: 1``, or holds every request for 10 s (stall):

  bare            SDK + BSP(no-op exporter)                       <- ratio 1.00
  latency         bare + LatencyProcessor (the otelperf cost without any vendor)
  newrelic/<f>    LatencyProcessor + BSP(NewRelicSpanExporter) over verified TLS
  sentry/<f>      LatencyProcessor + BSP(SentrySpanExporter) (OTLP/HTTP to the DSN's endpoint)
  datadog/<f>     LatencyProcessor + BSP(no-op) + a metric reader exporting to Datadog every
                  200 ms (Datadog takes no spans through its API client)

Exporters use their production defaults (10 s deadline, 3 retries). Cases are timed
round-robin; we print the median over rounds of ns per span (wall, and the request thread's
own CPU), the ratio to ``bare``, and how many spans each exporter dropped (BSP queue full or
counted by the exporter), and each fault's CPU cost relative to the same vendor healthy. The
claim checked: a fault never makes the request thread slower than a healthy exporter does, because
every fault is absorbed by the exporter's thread (spans are dropped, not waited for). A healthy
exporter costs the request thread some CPU through the GIL: its thread serialises and compresses.

Run: ``.venv/bin/python benchmarks/bench_vendors.py [--rounds 11] [--spans 4000]``
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from pathlib import Path

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.vendors

from otelperf.exporters.datadog import DatadogMetricExporter
from otelperf.exporters.newrelic import NewRelicSpanExporter
from otelperf.exporters.operation_metrics import OperationMetricsExporter
from otelperf.exporters.sentry import SentrySpanExporter
from otelperf.processors.aggregator import Aggregator
from otelperf.processors.latency import LatencyProcessor
from tests.vendors.server import STALL, Reply, VendorServer, closed_port

FAULTS = ("healthy", "down", "500", "429", "stall")


class NoOpExporter(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


REPLIES = {
    "healthy": Reply(202, {}, b"{}"),
    "healthy-otlp": Reply(200, {}, b""),
    "500": Reply(500),
    "429": Reply(429, {"Retry-After": "1"}),
}


def serve(wanted: list[tuple[str, str, bool]], ready: Queue, stop: Event) -> None:  # type: ignore[type-arg]
    """Child process: one loopback intake per (case, fault, tls); report (case, port, ca)."""
    servers = []
    for name, fault, tls in wanted:
        server = VendorServer(tls=tls)
        server.default = STALL if fault == "stall" else REPLIES[fault]
        servers.append(server)
        ready.put((name, server.port, server.ca_file))
    stop.wait()
    for server in servers:
        server.close()


class Servers:
    """The fault servers run in another process: in production the vendor is remote, and an
    in-process server would compete with the request thread for the GIL."""

    def __init__(self, wanted: list[tuple[str, str, bool]]) -> None:
        context = multiprocessing.get_context("spawn")
        self._ready: Queue = context.Queue()  # type: ignore[type-arg]
        self._stop = context.Event()
        self._process = context.Process(
            target=serve, args=(wanted, self._ready, self._stop), daemon=True
        )
        self._process.start()
        self.found: dict[str, tuple[int, str | None]] = {}
        for _ in wanted:
            name, port, ca = self._ready.get(timeout=30)
            self.found[name] = (port, ca)

    def close(self) -> None:
        self._stop.set()
        self._process.join(15)


class Case:
    def __init__(self, name: str, *, latency: bool, exporter: SpanExporter | None = None) -> None:
        self.name = name
        self.provider = TracerProvider(shutdown_on_exit=False)
        self.aggregator: Aggregator | None = None
        self.meter_provider: MeterProvider | None = None
        self.exporter = exporter or NoOpExporter()
        if latency:
            self.aggregator = Aggregator(ring_size=65536)
            self.provider.add_span_processor(LatencyProcessor(self.aggregator))
        self.processor = BatchSpanProcessor(self.exporter, schedule_delay_millis=50)
        self.provider.add_span_processor(self.processor)
        self.tracer = self.provider.get_tracer("bench")
        self.wall: list[float] = []
        self.cpu: list[float] = []

    def dropped(self) -> int:
        drops = getattr(self.exporter, "drops", None)
        metric = getattr(self, "metric_exporter", None)
        total = drops.total if drops is not None else 0
        return total + (metric.drops.total if metric is not None else 0)

    def close(self) -> None:
        self.provider.shutdown()
        if self.meter_provider is not None:
            self.meter_provider.shutdown(5_000)


def target(servers: Servers, name: str, fault: str) -> tuple[int, str | None]:
    return (closed_port(), None) if fault == "down" else servers.found[name]


def newrelic(servers: Servers, fault: str) -> Case:
    port, ca = target(servers, f"newrelic/{fault}", fault)
    exporter = NewRelicSpanExporter(
        key="bench-key", host="127.0.0.1", port=port, ca_certs=ca, environ={}
    )
    return Case(f"newrelic/{fault}", latency=True, exporter=exporter)


def sentry(servers: Servers, fault: str) -> Case:
    port, _ = target(servers, f"sentry/{fault}", fault)
    exporter = SentrySpanExporter(dsn=f"http://key@127.0.0.1:{port}/1", environ={})
    return Case(f"sentry/{fault}", latency=True, exporter=exporter)


def datadog(servers: Servers, fault: str) -> Case:
    port, _ = target(servers, f"datadog/{fault}", fault)
    case = Case(f"datadog/{fault}", latency=True)
    assert case.aggregator is not None
    metric = DatadogMetricExporter(api_key="bench-key", host=f"http://127.0.0.1:{port}", environ={})
    case.metric_exporter = metric  # type: ignore[attr-defined]
    wrapper = OperationMetricsExporter(metric, case.aggregator, resource=Resource.create({}))
    reader = PeriodicExportingMetricReader(wrapper, export_interval_millis=200)
    case.meter_provider = MeterProvider(metric_readers=[reader], shutdown_on_exit=False)
    case.meter_provider.get_meter("bench").create_counter("c").add(1)
    return case


def run(case: Case, spans: int) -> None:
    tracer = case.tracer
    wall0, cpu0 = time.perf_counter_ns(), time.thread_time_ns()
    for _ in range(spans):
        tracer.start_span("GET /users").end()
    case.wall.append((time.perf_counter_ns() - wall0) / spans)
    case.cpu.append((time.thread_time_ns() - cpu0) / spans)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--spans", type=int, default=4000)
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # exporters log every failed batch; not what we measure
    vendors: dict[str, Callable[[Servers, str], Case]] = {
        "newrelic": newrelic,
        "sentry": sentry,
        "datadog": datadog,
    }
    wanted = []
    for name in vendors:
        for fault in FAULTS:
            if fault != "down":
                reply = "healthy-otlp" if (name, fault) == ("sentry", "healthy") else fault
                wanted.append((f"{name}/{fault}", reply, name == "newrelic"))
    servers = Servers(wanted)
    cases = [Case("bare", latency=False), Case("latency", latency=True)]
    cases += [build(servers, fault) for build in vendors.values() for fault in FAULTS]
    try:
        for case in cases:  # warm-up: connections, first exports, faults in effect
            run(case, args.spans // 4)
        time.sleep(0.5)
        for _ in range(args.rounds):
            for case in cases:
                run(case, args.spans)
        dropped = {case.name: case.dropped() for case in cases}  # before the servers go away
    finally:
        servers.close()  # releases stalled requests: the shutdowns below are then quick
        for case in cases:
            case.close()
    base_wall = statistics.median(cases[0].wall)
    base_cpu = statistics.median(cases[0].cpu)
    print(f"{args.rounds} rounds x {args.spans} spans, median ns per span on the request thread")
    print("| case | wall ns | ratio | cpu ns | ratio | cpu vs healthy | dropped by exporter |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    healthy = {c.name.split("/")[0]: statistics.median(c.cpu) for c in cases if "healthy" in c.name}
    for case in cases:
        wall, cpu = statistics.median(case.wall), statistics.median(case.cpu)
        vendor = case.name.split("/")[0]
        versus = f"{cpu / healthy[vendor]:.3f}" if vendor in healthy else "—"
        print(
            f"| {case.name} | {wall:,.0f} | {wall / base_wall:.3f} | {cpu:,.0f} | "
            f"{cpu / base_cpu:.3f} | {versus} | {dropped[case.name]:,} |".replace(",", " ")
        )


if __name__ == "__main__":
    main()

"""Tail sampling end to end: 1 % head sampling, every error and slow trace at a real receiver."""

from __future__ import annotations

import random
import time
from collections import Counter, defaultdict

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Status, StatusCode, Tracer, set_span_in_context

from otelperf._receiver import OTLPReceiver
from otelperf._sampler import head_sampler
from otelperf._settings import resolve
from otelperf._tracestate import adjusted_count, decode_threshold
from otelperf.processors.aggregator import Aggregator
from otelperf.processors.latency import LatencyProcessor
from otelperf.processors.sampling import MeasureAllSampler
from otelperf.processors.tail_sampling import REASON_ATTRIBUTE, TailSamplingProcessor

MS = 1_000_000
TRACES = 20_000


def one_trace(tracer: Tracer, rng: random.Random, *, error: bool, slow: bool) -> int:
    """A 3-span request with explicit times (no sleeping): 1-10 ms, or 2 s when slow."""
    start = time.time_ns()
    root_ns = 2000 * MS if slow else rng.randint(1 * MS, 10 * MS)
    root = tracer.start_span("GET /checkout", start_time=start, attributes={"http.route": "/c"})
    ctx = set_span_in_context(root)
    tracer.start_span("db.query", context=ctx, start_time=start).end(end_time=start + root_ns // 3)
    call = tracer.start_span("POST /payments", context=ctx, start_time=start + root_ns // 3)
    if error:
        call.set_status(Status(StatusCode.ERROR, "declined"))
    call.end(end_time=start + root_ns - MS // 2)
    root.end(end_time=start + root_ns)
    return root.get_span_context().trace_id


def test_errors_and_slow_traces_arrive_whole_and_the_rest_at_one_percent(
    otlp_receiver: OTLPReceiver,
) -> None:
    """sample_ratio=0.01, 20k traces, 1 % error, 1 % slow: see the module docstring."""
    aggregator = Aggregator(ring_size=100_000, interval_s=0.1)
    sampler = MeasureAllSampler(head_sampler(resolve({"sample_ratio": 0.01}, {}), {}))
    provider = TracerProvider(sampler=sampler, shutdown_on_exit=False)
    provider.add_span_processor(LatencyProcessor(aggregator))
    exporter = OTLPSpanExporter(endpoint=otlp_receiver.http_url("traces"))
    tail = TailSamplingProcessor(
        BatchSpanProcessor(exporter, max_queue_size=20_000),
        aggregator=aggregator,
        slow_ms=1000,
        floor_interval_s=60,
    )
    provider.add_span_processor(tail)
    tracer = provider.get_tracer("shop")
    rng = random.Random(2026)
    errors: set[int] = set()
    slow: set[int] = set()
    rest: set[int] = set()
    for i in range(TRACES):
        is_error, is_slow = i % 100 == 0, i % 100 == 50
        trace_id = one_trace(tracer, rng, error=is_error, slow=is_slow)
        (errors if is_error else slow if is_slow else rest).add(trace_id)
    provider.shutdown()  # decides nothing new (all roots ended), flushes the batch exporter
    aggregator.flush()

    received = otlp_receiver.spans()
    raw = {
        span.span_id.hex(): span
        for request in otlp_receiver.requests("traces")
        for resource_spans in request.resource_spans
        for scope_spans in resource_spans.scope_spans
        for span in scope_spans.spans
    }
    by_trace: dict[int, list[str]] = defaultdict(list)
    for span in received:
        by_trace[int(span.trace_id, 16)].append(span.name)
    whole = ["GET /checkout", "POST /payments", "db.query"]
    # Every error and slow trace arrives with all its local spans.
    assert all(sorted(by_trace[t]) == whole for t in errors | slow)
    # About 1 % of the others do (head sampled), plus the floor's first trace.
    kept_rest = [t for t in rest if t in by_trace]
    assert all(sorted(by_trace[t]) == whole for t in kept_rest)
    assert 0.005 * len(rest) < len(kept_rest) < 0.02 * len(rest), len(kept_rest)
    # Reasons: head-sampled spans carry the head sampler's th; tail-kept ones none.
    reasons = Counter(str(span.attributes[REASON_ATTRIBUTE]) for span in received)
    # Outliers: normal roots above the live p99 (read while the window still had few samples).
    assert set(reasons) <= {"head", "error", "slow", "floor", "outlier"}, reasons
    assert reasons["outlier"] < 0.003 * TRACES * 3, reasons
    head_roots = 0
    for span in received:
        state = raw[span.span_id].trace_state
        if span.attributes[REASON_ATTRIBUTE] == "head":
            assert state == "ot=th:fd70a"
            head_roots += span.name == "GET /checkout"
        else:
            assert state == ""
    # Honest counts: head-sampled roots times their adjusted count estimate all 20k requests.
    estimate = head_roots * adjusted_count(decode_threshold("fd70a") or 0)
    assert 0.7 * TRACES < estimate < 1.3 * TRACES
    # Percentiles saw every request, exported or not.
    stats = aggregator.stats("GET /checkout")
    assert stats is not None and stats.count == TRACES
    assert sum(tail.decisions().values()) == TRACES
    aggregator.shutdown()

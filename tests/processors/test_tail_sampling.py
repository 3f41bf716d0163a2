"""TailSamplingProcessor through the real SDK: reasons, copies, metrics, bounds, threads, fork."""

from __future__ import annotations

import os
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased
from opentelemetry.trace import Status, StatusCode, Tracer, set_span_in_context

from otelperf._sampler import ThresholdRatioSampler
from otelperf._tracestate import threshold_of
from otelperf.processors._kept_span import kept_copy
from otelperf.processors.aggregator import Aggregator
from otelperf.processors.latency import LatencyProcessor
from otelperf.processors.sampling import MeasureAllSampler
from otelperf.processors.tail_sampling import REASON_ATTRIBUTE, TailSamplingProcessor

MS = 1_000_000


@dataclass
class Pipeline:
    tracer: Tracer
    provider: TracerProvider
    exporter: InMemorySpanExporter
    tail: TailSamplingProcessor
    aggregator: Aggregator

    def exported(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def reasons(self) -> dict[str, str]:
        """Exported span name -> its sampling reason."""
        return {s.name: str((s.attributes or {})[REASON_ATTRIBUTE]) for s in self.exported()}


@pytest.fixture
def make() -> Iterator[Callable[..., Pipeline]]:
    """Build SDK + MeasureAll(ratio) + LatencyProcessor + TailSampling(SimpleSpanProcessor)."""
    built: list[Pipeline] = []

    def build(
        ratio: float = 0.0,
        *,
        limits: SpanLimits | None = None,
        key_attributes: tuple[str, ...] = (),
        **tail: object,
    ) -> Pipeline:
        aggregator = Aggregator(interval_s=3600, ring_size=500_000, key_attributes=key_attributes)
        sampler = MeasureAllSampler(ParentBased(ThresholdRatioSampler(ratio)))
        provider = TracerProvider(sampler=sampler, shutdown_on_exit=False, span_limits=limits)
        provider.add_span_processor(LatencyProcessor(aggregator))
        exporter = InMemorySpanExporter()
        tail.setdefault("floor_interval_s", None)
        processor = TailSamplingProcessor(
            SimpleSpanProcessor(exporter),
            aggregator=aggregator,
            **tail,  # type: ignore[arg-type]
        )
        provider.add_span_processor(processor)
        pipeline = Pipeline(provider.get_tracer("t"), provider, exporter, processor, aggregator)
        built.append(pipeline)
        return pipeline

    yield build
    for pipeline in built:
        pipeline.provider.shutdown()


def trace(
    tracer: Tracer,
    name: str = "GET /a",
    *,
    children: int = 2,
    error: bool = False,
    child_ms: float = 1.0,
    root_ms: float = 5.0,
) -> int:
    """One local trace with explicit times; the last child may fail. Returns the trace id."""
    start = time.time_ns()
    root = tracer.start_span(name, start_time=start, attributes={"http.route": "/a"})
    ctx = set_span_in_context(root)
    for i in range(children):
        child = tracer.start_span(f"db.{i}", context=ctx, start_time=start)
        if error and i == children - 1:
            child.set_status(Status(StatusCode.ERROR, "boom"))
        child.end(end_time=start + round(child_ms * MS))
    root.end(end_time=start + round(root_ms * MS))
    return root.get_span_context().trace_id


class TestReasons:
    def test_plain_unsampled_trace_is_dropped(self, make: Callable[..., Pipeline]) -> None:
        """Nothing matches: nothing is exported and the decision is counted."""
        p = make()
        trace(p.tracer)
        assert p.exported() == []
        assert p.tail.decisions() == {("sampled_out", False): 1}
        assert p.tail.buffered() == (0, 0)

    def test_error_trace_is_exported_whole_as_sampled_copies(
        self, make: Callable[..., Pipeline]
    ) -> None:
        """An error keeps every local span; copies are sampled, unthresholded, attributes kept."""
        p = make()
        trace_id = trace(p.tracer, error=True)
        spans = p.exported()
        assert p.reasons() == {"db.0": "error", "db.1": "error", "GET /a": "error"}
        root = next(s for s in spans if s.name == "GET /a")
        assert root.attributes is not None and root.attributes["http.route"] == "/a"
        for span in spans:
            assert span.context is not None
            assert span.context.trace_id == trace_id
            assert span.context.trace_flags.sampled
            assert threshold_of(span.context.trace_state) is None
            if span is not root:
                assert root.context is not None and span.parent is not None
                assert span.parent.span_id == root.context.span_id
        assert next(s for s in spans if s.name == "db.1").status.status_code is StatusCode.ERROR

    def test_head_sampled_trace_keeps_its_threshold(self, make: Callable[..., Pipeline]) -> None:
        """Ratio 1: spans go out unbuffered as reason head, with the head sampler's ot=th:0."""
        p = make(1.0)
        trace(p.tracer)
        assert p.reasons() == {"db.0": "head", "db.1": "head", "GET /a": "head"}
        for span in p.exported():
            assert span.context is not None
            assert span.context.trace_state.to_header() == "ot=th:0"
        assert p.tail.decisions() == {("head", True): 1}

    def test_slow_span_keeps_its_trace(self, make: Callable[..., Pipeline]) -> None:
        """A span lasting slow_ms or more keeps the trace (reason slow)."""
        p = make(slow_ms=100)
        trace(p.tracer, child_ms=99)
        trace(p.tracer, "GET /b", child_ms=100, root_ms=100)
        assert set(p.reasons().values()) == {"slow"}
        assert {s.name for s in p.exported()} == {"GET /b", "db.0", "db.1"}

    def test_span_over_its_budget_threshold_keeps_its_trace(
        self, make: Callable[..., Pipeline]
    ) -> None:
        """threshold_ms(operation, kind) is asked once per operation; spans over it keep."""
        asked: list[tuple[str, str]] = []

        def threshold_ms(operation: str, kind: str) -> float | None:
            asked.append((operation, kind))
            return 3.0 if operation == "db.1" else None

        p = make(threshold_ms=threshold_ms)
        trace(p.tracer, child_ms=2)
        trace(p.tracer, child_ms=4)
        assert set(p.reasons().values()) == {"budget"}
        assert len(p.exported()) == 3
        assert sorted(asked) == [("GET /a", "internal"), ("db.0", "internal"), ("db.1", "internal")]

    def test_root_slower_than_live_p99_is_an_outlier(self, make: Callable[..., Pipeline]) -> None:
        """After 200 roots of ~5 ms, a 50 ms root is kept as an outlier (p99 read on tick)."""
        p = make()
        for _ in range(200):
            trace(p.tracer, children=0)
        p.aggregator.flush()
        p.tail.tick()  # the thread's job: read the p99 of followed operations
        trace(p.tracer, children=0, root_ms=50)
        assert p.reasons() == {"GET /a": "outlier"}

    def test_floor_keeps_one_trace_per_operation_per_interval(
        self, make: Callable[..., Pipeline]
    ) -> None:
        """With floor_interval_s, the first trace of each operation is kept, then none."""
        p = make(floor_interval_s=60)
        for name in ("GET /a", "GET /a", "GET /b"):
            trace(p.tracer, name, children=0)
        assert [s.name for s in p.exported()] == ["GET /a", "GET /b"]
        assert set(p.reasons().values()) == {"floor"}

    def test_operations_are_the_aggregators_keys(self, make: Callable[..., Pipeline]) -> None:
        """With key_attributes, one span name with two routes is two operations (two floors)."""
        p = make(floor_interval_s=60, key_attributes=("route",))
        for route in ("/a", "/b", "/a"):
            p.tracer.start_span("GET", attributes={"route": route}).end()
        assert [(s.attributes or {})["route"] for s in p.exported()] == ["/a", "/b"]


class TestMetricsAndCounts:
    def test_decisions_metric_reports_reason_and_kept(self, make: Callable[..., Pipeline]) -> None:
        """otelperf.sampling.decisions{reason,kept} counts decided traces."""
        reader = InMemoryMetricReader()
        meters = MeterProvider(metric_readers=[reader], shutdown_on_exit=False)
        p = make()
        p.tail.register_metrics(meters.get_meter("otelperf"))
        trace(p.tracer, error=True)
        trace(p.tracer)
        trace(p.tracer)
        data = reader.get_metrics_data()
        assert data is not None
        points = {
            (pt.attributes["reason"], pt.attributes["kept"]): pt.value  # type: ignore[index, union-attr]
            for rm in data.resource_metrics
            for sm in rm.scope_metrics
            for m in sm.metrics
            if m.name == "otelperf.sampling.decisions"
            for pt in m.data.data_points
        }
        assert points == {("error", True): 1, ("sampled_out", False): 2}
        meters.shutdown()

    def test_measurement_sees_every_span_whatever_is_exported(
        self, make: Callable[..., Pipeline]
    ) -> None:
        """The LatencyProcessor before the tail sampler still counts dropped traces."""
        p = make()
        for _ in range(50):
            trace(p.tracer)
        p.aggregator.flush()
        stats = p.aggregator.stats("GET /a")
        assert stats is not None and stats.count == 50
        assert p.exported() == []


class TestBounds:
    def test_ten_thousand_span_trace_is_capped_and_counted(
        self, make: Callable[..., Pipeline]
    ) -> None:
        """A 10k-span error trace: the first 1000 spans and the root are kept, the rest counted."""
        p = make(max_spans_per_trace=1000)
        trace(p.tracer, children=10_000, error=True)
        assert len(p.exported()) == 1001
        assert p.tail.dropped_spans() == {"spans_per_trace": 9000}
        p.tail.tick()
        assert p.aggregator.dropped() == {"tail_spans_per_trace": 9000}
        assert p.tail.buffered() == (0, 0)

    def test_hundred_thousand_open_traces_stay_bounded(self, make: Callable[..., Pipeline]) -> None:
        """100k traces whose roots never end: at most max_traces buffered, the rest decided."""
        p = make(max_traces=1000, max_spans=5000)
        tracer = p.tracer
        most = (0, 0)
        for i in range(100_000):
            root = tracer.start_span("GET /a")  # never ended: only its start is buffered
            if i % 1000 == 0:
                child = tracer.start_span("db", context=set_span_in_context(root))
                child.set_status(Status(StatusCode.ERROR))
                child.end()
            if i % 5000 == 0:
                most = max(most, p.tail.buffered())
        assert most[0] <= 1000 and most[1] <= 5000
        assert p.tail.buffered() == (1000, 1)
        decisions = p.tail.decisions()
        assert decisions == {("buffer_full", False): 98_901, ("error", True): 99}
        assert len(p.exported()) == 99  # each error child, alone: its root never ended

    def test_root_that_never_ends_is_decided_by_the_thread(
        self, make: Callable[..., Pipeline]
    ) -> None:
        """With wait_s=0.2 and no further span, the thread decides and exports the error child."""
        p = make(wait_s=0.2)
        root = p.tracer.start_span("GET /stuck")
        child = p.tracer.start_span("db", context=set_span_in_context(root))
        child.set_status(Status(StatusCode.ERROR))
        child.end()
        deadline = time.monotonic() + 5
        while p.tail.buffered() != (0, 0) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert p.reasons() == {"db": "error"}
        assert p.tail.decisions() == {("error", True): 1}
        root.end()  # late: follows the decision
        assert p.reasons() == {"db": "error", "GET /stuck": "error"}


class TestCopies:
    def test_dropped_counts_survive_the_copy(self, make: Callable[..., Pipeline]) -> None:
        """Attributes, events and links dropped by span limits are still reported as dropped."""
        limits = SpanLimits(max_span_attributes=2, max_events=1, max_links=1)
        p = make(limits=limits)
        root = p.tracer.start_span("GET /a", attributes={"a": 1, "b": 2, "c": 3})
        root.add_event("e1")
        root.add_event("e2")
        root.set_status(Status(StatusCode.ERROR))
        root.end()
        [copy] = p.exported()
        assert copy.dropped_attributes == 1
        assert copy.dropped_events == 1
        assert copy.attributes is not None and copy.attributes[REASON_ATTRIBUTE] == "error"

    def test_copy_of_a_sampled_span_keeps_its_context(self, make: Callable[..., Pipeline]) -> None:
        """kept_copy leaves an already-sampled context (and its th) untouched."""
        p = make(1.0)
        trace(p.tracer, children=0)
        [span] = p.exported()
        assert kept_copy(span, "error").context is span.context


class TestThreadsAndLifecycle:
    def test_many_threads_totals_add_up(self, make: Callable[..., Pipeline]) -> None:
        """8 threads x 250 traces: every decision counted, every error trace exported whole."""
        p = make()
        errors: list[int] = []
        lock = threading.Lock()

        def work() -> None:
            for i in range(250):
                trace_id = trace(p.tracer, error=i % 10 == 0)
                if i % 10 == 0:
                    with lock:
                        errors.append(trace_id)

        threads = [threading.Thread(target=work) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        decisions = p.tail.decisions()
        assert decisions == {("error", True): 200, ("sampled_out", False): 1800}
        by_trace: dict[int, int] = {}
        for span in p.exported():
            assert span.context is not None
            by_trace[span.context.trace_id] = by_trace.get(span.context.trace_id, 0) + 1
        assert by_trace == dict.fromkeys(errors, 3)

    def test_shutdown_decides_buffered_traces_and_is_idempotent(
        self, make: Callable[..., Pipeline]
    ) -> None:
        """Shutdown exports kept buffered traces, stops the thread; a second call is a no-op."""
        p = make()
        root = p.tracer.start_span("GET /open")
        child = p.tracer.start_span("db", context=set_span_in_context(root))
        child.set_status(Status(StatusCode.ERROR))
        child.end()
        p.tail.shutdown()
        assert p.reasons() == {"db": "error"}
        p.tail.shutdown()
        assert not p.tail._thread.is_alive()

    def test_failing_inner_does_not_stop_the_span_from_ending(
        self, make: Callable[..., Pipeline], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """An exporter chain that raises is contained: the application's span ends normally."""

        class Broken(SpanProcessor):
            def on_end(self, span: ReadableSpan) -> None:
                raise RuntimeError("exporter down")

        monkeypatch.setenv("OTELPERF_RAISE_INTERNAL_ERRORS", "0")
        provider = TracerProvider(
            sampler=MeasureAllSampler(ParentBased(ThresholdRatioSampler(0))),
            shutdown_on_exit=False,
        )
        tail = TailSamplingProcessor(Broken(), floor_interval_s=None)
        provider.add_span_processor(tail)
        span = provider.get_tracer("t").start_span("GET /a")
        span.set_status(Status(StatusCode.ERROR))
        span.end()  # must not raise
        assert tail.decisions() == {("error", True): 1}
        provider.shutdown()

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"max_traces": 0}, "max_traces must be an integer >= 1"),
            ({"max_spans_per_trace": 1.5}, "max_spans_per_trace must be an integer >= 1"),
            ({"wait_s": -1}, "wait_s must be a finite number >= 0"),
            ({"slow_ms": float("inf")}, "slow_ms must be a finite number >= 0"),
        ],
    )
    def test_bad_arguments_raise(self, kwargs: dict[str, object], message: str) -> None:
        """Bounds below 1 and negative or infinite durations raise ValueError at once."""
        with pytest.raises(ValueError, match=message):
            TailSamplingProcessor(SimpleSpanProcessor(InMemorySpanExporter()), **kwargs)  # type: ignore[arg-type]

    @pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
    def test_forked_child_starts_empty_and_works(self, make: Callable[..., Pipeline]) -> None:
        """After fork the child buffers none of the parent's traces and decides its own."""
        p = make(wait_s=0.2)
        root = p.tracer.start_span("GET /parent")  # stays open in the parent
        p.tracer.start_span("db", context=set_span_in_context(root)).end()
        assert p.tail.buffered() == (1, 1)
        read, write = os.pipe()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: fork with threads
            pid = os.fork()
        if pid == 0:
            try:
                empty = p.tail.buffered() == (0, 0)
                child_root = p.tracer.start_span("GET /child")
                waiting = p.tracer.start_span("db", context=set_span_in_context(child_root))
                waiting.set_status(Status(StatusCode.ERROR))
                waiting.end()
                deadline = time.monotonic() + 5
                while p.tail.buffered() != (0, 0) and time.monotonic() < deadline:
                    time.sleep(0.02)  # the child's own thread expires the stuck trace
                ok = empty and p.tail.decisions() == {("error", True): 1}
                os.write(write, b"ok" if ok and p.tail._thread.is_alive() else b"no")
            finally:
                os._exit(0)
        os.close(write)
        answer = os.read(read, 8)
        os.close(read)
        os.waitpid(pid, 0)
        assert answer == b"ok"
        p.tail.tick()  # the child waited > wait_s: the parent's stuck trace expires on its own
        assert p.tail.decisions() == {("wait", False): 1}

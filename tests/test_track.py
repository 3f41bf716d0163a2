"""otelperf.track(): spans by name, errors, nesting, and no context growth per call."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Callable, Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

import otelperf

pytestmark = pytest.mark.usefixtures("fresh_globals")

CALLS = 1000


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """A global TracerProvider exporting to memory (fresh_globals resets it afterwards)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    yield exporter
    provider.shutdown()


def context_size() -> int:
    return len(contextvars.copy_context())


def growth(call: Callable[[], object]) -> int:
    """Context entries left behind by CALLS calls of ``call`` (after one warm-up call)."""
    call()
    before = context_size()
    for _ in range(CALLS):
        call()
    return context_size() - before


def named(exporter: InMemorySpanExporter, name: str) -> list[ReadableSpan]:
    return [span for span in exporter.get_finished_spans() if span.name == name]


class TestNoContextGrowth:
    def test_with_block(self, spans: InMemorySpanExporter) -> None:
        """1000 `with track(...)` blocks leave the context as it was."""
        tracked = otelperf.track("block")

        def call() -> None:
            with tracked:
                pass

        assert growth(call) == 0
        assert len(named(spans, "block")) == CALLS + 1

    def test_first_block_in_a_fresh_thread_leaves_nothing(
        self, spans: InMemorySpanExporter
    ) -> None:
        """Even the first block in a thread leaves its (empty) context empty again."""
        tracked = otelperf.track("fresh")
        sizes: list[int] = []

        def worker() -> None:
            sizes.append(context_size())
            with tracked:
                sizes.append(context_size())
            sizes.append(context_size())

        thread = threading.Thread(target=worker)
        thread.start()
        thread.join(timeout=5)
        assert sizes[0] == sizes[2] and sizes[1] > sizes[0]

    def test_new_instance_per_block(self, spans: InMemorySpanExporter) -> None:
        """A fresh track object per block (the common inline form) leaves nothing either."""

        def call() -> None:
            with otelperf.track("inline"):
                pass

        assert growth(call) == 0

    def test_sync_decorator(self, spans: InMemorySpanExporter) -> None:
        """1000 calls of a decorated function leave the context as it was."""

        @otelperf.track("sync")
        def work() -> int:
            return 1

        assert growth(work) == 0
        assert len(named(spans, "sync")) == CALLS + 1

    def test_async_decorator(self, spans: InMemorySpanExporter) -> None:
        """1000 awaited calls of a decorated coroutine leave the task's context as it was."""

        @otelperf.track("async")
        async def work() -> int:
            await asyncio.sleep(0)
            return 1

        async def main() -> int:
            await work()
            before = context_size()
            for _ in range(CALLS):
                await work()
            return context_size() - before

        assert asyncio.run(main()) == 0
        assert len(named(spans, "async")) == CALLS + 1

    def test_nested_blocks(self, spans: InMemorySpanExporter) -> None:
        """Nested blocks of one and of two instances leave the context as it was."""
        outer, inner = otelperf.track("outer"), otelperf.track("inner")

        def call() -> None:
            with outer, inner, outer:
                pass

        assert growth(call) == 0

    def test_exception_inside(self, spans: InMemorySpanExporter) -> None:
        """Blocks and decorated calls that raise leave the context as it was."""
        tracked = otelperf.track("raising")

        @otelperf.track("raising.fn")
        def fail() -> None:
            raise KeyError("x")

        def call() -> None:
            with pytest.raises(KeyError):
                fail()
            with pytest.raises(ValueError), tracked:
                raise ValueError("y")

        assert growth(call) == 0


class TestBehaviour:
    def test_span_name_and_ok_status(self, spans: InMemorySpanExporter) -> None:
        """The span carries the given name and is not an error when nothing raises."""
        with otelperf.track("checkout.total") as span:
            assert span.is_recording()
        [ended] = spans.get_finished_spans()
        assert ended.name == "checkout.total"
        assert ended.status.status_code is StatusCode.UNSET

    def test_error_status_and_exception_propagate(self, spans: InMemorySpanExporter) -> None:
        """An exception marks the span as an error, is recorded, and propagates unchanged."""
        error = KeyError("missing")

        @otelperf.track("lookup")
        def lookup() -> None:
            raise error

        with pytest.raises(KeyError) as raised:
            lookup()
        assert raised.value is error
        [ended] = spans.get_finished_spans()
        assert ended.status.status_code is StatusCode.ERROR
        assert [event.name for event in ended.events] == ["exception"]

    def test_blocks_nest_as_parent_and_child(self, spans: InMemorySpanExporter) -> None:
        """A block inside another (same instance too) is its child; the parent is restored."""
        tracked = otelperf.track("same")
        with tracked as parent:
            with tracked as child:
                assert trace.get_current_span() is child
            assert trace.get_current_span() is parent
        assert not trace.get_current_span().get_span_context().is_valid
        inner, outer = spans.get_finished_spans()
        assert inner.parent is not None
        assert inner.parent.span_id == outer.context.span_id

    def test_sync_and_async_decorators_keep_the_function(self, spans: InMemorySpanExporter) -> None:
        """Decorated functions keep their name and result; coroutine functions stay awaitable."""

        @otelperf.track("double")
        def double(x: int) -> int:
            return 2 * x

        @otelperf.track("increment")
        async def increment(x: int) -> int:
            await asyncio.sleep(0)
            with otelperf.track("increment.inner"):
                return x + 1

        assert double(2) == 4 and double.__name__ == "double"
        assert asyncio.run(increment(1)) == 2
        assert asyncio.iscoroutinefunction(increment)
        by_name = {span.name: span for span in spans.get_finished_spans()}
        parent = by_name["increment.inner"].parent
        assert parent is not None and parent.span_id == by_name["increment"].context.span_id

    def test_one_instance_in_two_threads(self, spans: InMemorySpanExporter) -> None:
        """Two threads inside the same instance at once each end their own span."""
        tracked = otelperf.track("shared")
        inside, release = threading.Barrier(2), threading.Event()
        ids: list[int] = []

        def worker() -> None:
            with tracked as span:
                ids.append(span.get_span_context().span_id)
                inside.wait(timeout=5)
                release.wait(timeout=5)

        threads = [threading.Thread(target=worker) for _ in range(2)]
        for thread in threads:
            thread.start()
        release.set()
        for thread in threads:
            thread.join(timeout=5)
        ended = named(spans, "shared")
        assert sorted(span.context.span_id for span in ended) == sorted(ids)
        assert all(span.parent is None for span in ended)

    def test_empty_name_is_refused(self) -> None:
        """track('') raises ValueError naming what is expected."""
        with pytest.raises(ValueError, match="non-empty string"):
            otelperf.track("")

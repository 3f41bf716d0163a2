"""record_spans(): spans of the global TracerProvider, isolated per block, with the real SDK."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import otelperf
from otelperf import _configure
from otelperf.testing import BudgetFailed, record_spans
from otelperf.testing._session import SessionTracerProvider, install


@pytest.fixture(autouse=True)
def _globals(fresh_globals: None) -> Iterator[None]:
    """Every test here sets OTel's global provider: reset it around each test."""
    yield


def make_spans(name: str, n: int = 1, *, sleep_s: float = 0.0) -> None:
    tracer = trace.get_tracer("app")
    for _ in range(n):
        with tracer.start_as_current_span(name, kind=trace.SpanKind.SERVER):
            if sleep_s:
                time.sleep(sleep_s)


class TestRecordSpans:
    def test_records_spans_of_the_global_tracer_inside_the_block_only(self) -> None:
        """Spans ended inside the block are recorded; those before or after are not."""
        with record_spans():
            make_spans("before")
        with record_spans() as recording:
            make_spans("inside", 2)
        make_spans("after")
        assert recording.names() == ["inside", "inside"]

    def test_installs_a_session_provider_when_none_is_set(self) -> None:
        """Without a global SDK provider, a recording installs one that samples everything."""
        assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
        with record_spans():
            assert isinstance(trace.get_tracer_provider(), SessionTracerProvider)

    def test_attaches_once_to_an_installed_sdk_provider(self) -> None:
        """An application's own SDK provider keeps its exporters and feeds each recording once."""
        exporter = InMemorySpanExporter()
        provider = TracerProvider(shutdown_on_exit=False)
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        for _ in range(3):
            with record_spans() as recording:
                make_spans("op")
            assert recording.names() == ["op"]
        assert trace.get_tracer_provider() is provider
        assert [span.name for span in exporter.get_finished_spans()] == ["op"] * 3
        provider.shutdown()

    def test_refuses_a_provider_that_is_not_the_sdks(self) -> None:
        """A no-op global provider cannot be recorded: a clear RuntimeError says so."""
        trace.set_tracer_provider(trace.NoOpTracerProvider())
        with pytest.raises(RuntimeError, match="NoOpTracerProvider, not the OpenTelemetry SDK"):
            install()

    def test_max_spans_bounds_what_is_kept(self) -> None:
        """Past max_spans, spans are counted as dropped and budget messages say so."""
        with record_spans(max_spans=5) as recording:
            make_spans("op", 8)
        assert (len(recording.spans), recording.dropped) == (5, 3)
        assert repr(recording) == "<SpanRecording 5 spans, 3 dropped>"
        with pytest.raises(BudgetFailed, match="judged on the first 5 spans; 3 later ones"):
            recording.assert_budget("op max<1us min 1")

    def test_clear_forgets_the_warm_up(self) -> None:
        """clear() drops the spans recorded so far."""
        with record_spans() as recording:
            make_spans("warm-up", 3)
            recording.clear()
            make_spans("op")
        assert recording.names() == ["op"]

    def test_matching_uses_budget_selectors(self) -> None:
        """matching() accepts the selectors budgets use (globs, kind=, attr.)."""
        with record_spans() as recording:
            make_spans("GET /a")
            with recording.tracer.start_as_current_span("internal", attributes={"k": 7}):
                pass
        assert [s.name for s in recording.matching("kind=server")] == ["GET /a"]
        assert [s.name for s in recording.matching("attr.k=7")] == ["internal"]
        assert [s.name for s in recording.matching("GET *")] == ["GET /a"]


class TestLateSpans:
    def test_wait_for_returns_spans_ended_by_another_thread(self) -> None:
        """wait_for() blocks until a span ends on another thread."""
        with record_spans() as recording:
            worker = threading.Timer(0.1, make_spans, args=("late",))
            worker.start()
            found = recording.wait_for(1, selector="late", timeout_s=5)
            worker.join()
        assert [span.name for span in found] == ["late"]

    def test_wait_for_times_out_with_what_was_seen(self) -> None:
        """wait_for() raises TimeoutError naming the count and the spans seen."""
        with record_spans() as recording:
            make_spans("other")
            with pytest.raises(
                TimeoutError, match=r"0 matching spans ended within 0.1 s; seen: \['other'\]"
            ):
                recording.wait_for(1, selector="late", timeout_s=0.1)

    def test_assert_budget_waits_for_spans_still_ending(self) -> None:
        """A budget short of spans waits up to wait_s for them before judging."""
        with record_spans() as recording:
            worker = threading.Thread(target=make_spans, args=("job", 20), kwargs={"sleep_s": 0.01})
            worker.start()
            checks = recording.assert_budget("job max<500ms", wait_s=10)
            worker.join()
        assert checks[0].matched == 20


class TestIsolation:
    def test_configure_inside_a_recording_is_undone_at_its_end(self) -> None:
        """otelperf.configure() during a recording attaches, measures, and is forgotten after."""
        with record_spans() as recording:
            handle = otelperf.configure(exporters="none", regression_factor="off")
            assert handle.attached
            make_spans("op", 5)
            assert handle.aggregator is not None
            handle.aggregator.flush()
            stats = otelperf.stats("op")
            assert stats is not None and stats.count == 5
        assert recording.names() == ["op"] * 5
        assert _configure.current() is None
        make_spans("op", 3)  # its LatencyProcessor was removed: nothing reaches its ring
        assert handle.aggregator is not None and len(handle.aggregator.ring) == 0
        with record_spans():  # a second configure() neither warns nor returns the old handle
            again = otelperf.configure(exporters="none", regression_factor="off")
            assert again is not handle
            make_spans("op")
            assert again.aggregator is not None
            again.aggregator.flush()
            stats = otelperf.stats("op")
            assert stats is not None and stats.count == 1  # the first handle's processor is gone

    def test_configure_before_recording_is_kept(self) -> None:
        """A handle configured before the recording (e.g. at import) survives it."""
        handle = otelperf.configure(exporters="none", regression_factor="off")
        with record_spans() as recording:
            make_spans("op")
        assert recording.names() == ["op"]
        assert _configure.current() is handle

    def test_processors_added_outside_a_recording_stay(self) -> None:
        """Only processors added during a recording are removed when it ends."""
        exporter = InMemorySpanExporter()
        with record_spans():
            pass
        provider = trace.get_tracer_provider()
        assert isinstance(provider, SessionTracerProvider)
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        with record_spans():
            provider.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
            make_spans("inside")
        make_spans("after")
        assert [span.name for span in exporter.get_finished_spans()] == ["inside", "after"]

    @pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
    def test_forked_child_ends_spans_without_touching_the_parents_recording(self) -> None:
        """After fork, the child's spans neither block nor reach the parent's recording."""
        with record_spans() as recording:
            make_spans("parent")
            pid = os.fork()
            if pid == 0:  # child: must not deadlock on an inherited lock
                make_spans("child")
                os._exit(0)
            _, status = os.waitpid(pid, 0)
            make_spans("parent")
        assert os.waitstatus_to_exitcode(status) == 0
        assert recording.names() == ["parent", "parent"]

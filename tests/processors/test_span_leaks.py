"""SpanLeakProcessor through the real SDK: reporting, bounds, hooks, threads, fork, errors."""

from __future__ import annotations

import logging
import os
import sys
import threading
import warnings
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Tracer

from otelperf.processors.span_leaks import (
    OTHER_NAME,
    LeakingName,
    SpanLeakProcessor,
    SpanLeakReport,
)
from otelperf.testing import FakeClock

S = 1_000_000_000  # ns per second


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def provider() -> Iterator[TracerProvider]:
    tracer_provider = TracerProvider(shutdown_on_exit=False)
    yield tracer_provider
    tracer_provider.shutdown()


def make(
    provider: TracerProvider, clock: FakeClock, **kwargs: object
) -> tuple[SpanLeakProcessor, Tracer]:
    processor = SpanLeakProcessor(clock=clock, **kwargs)  # type: ignore[arg-type]
    provider.add_span_processor(processor)
    return processor, provider.get_tracer("test")


def leak_in_dead_thread(tracer: Tracer, name: str) -> None:
    """Start a span in a thread that exits without ending it (the span object is dropped)."""
    thread = threading.Thread(target=lambda: tracer.start_span(name))
    thread.start()
    thread.join()


class TestReporting:
    def test_span_left_open_by_dead_thread_reported_after_threshold(
        self, provider: TracerProvider, clock: FakeClock
    ) -> None:
        """A span a dead thread never ended is reported with its name, count and age."""
        leaks, tracer = make(provider, clock, leak_after_s=10.0)
        leak_in_dead_thread(tracer, "GET /leaky")
        clock.advance(seconds=3)
        leak_in_dead_thread(tracer, "GET /leaky")
        clock.advance(seconds=7)
        report = leaks.check()
        assert report.names == (LeakingName("GET /leaky", 1, 10 * S),)
        assert report.total == 1 and report.open_spans == 2 and report.omitted_names == 0
        clock.advance(seconds=4)
        report = leaks.check()
        assert report.names == (LeakingName("GET /leaky", 2, 14 * S),)
        assert report.names[0].oldest_age_s == 14.0

    def test_span_not_reported_before_threshold(
        self, provider: TracerProvider, clock: FakeClock
    ) -> None:
        """A span open for less than leak_after_s is not reported."""
        leaks, tracer = make(provider, clock, leak_after_s=10.0)
        leak_in_dead_thread(tracer, "GET /leaky")
        clock.advance(ns=10 * S - 1)
        report = leaks.check()
        assert report.names == () and report.total == 0 and report.open_spans == 1
        assert leaks.unfinished() == {}

    def test_ended_spans_never_reported(self, provider: TracerProvider, clock: FakeClock) -> None:
        """Spans that end, whatever their duration, never appear in a report."""
        leaks, tracer = make(provider, clock, leak_after_s=1.0)
        long_span = tracer.start_span("slow but ends")
        for _ in range(100):
            tracer.start_span("fast").end()
        clock.advance(seconds=3600)
        long_span.end()
        report = leaks.check()
        assert report.total == 0 and report.open_spans == 0 and leaks.open_spans() == 0

    def test_report_ranks_names_and_counts_omitted(
        self, provider: TracerProvider, clock: FakeClock
    ) -> None:
        """Names are ranked by count (then age); beyond top_n they are counted, not listed."""
        leaks, tracer = make(provider, clock, leak_after_s=1.0, top_n=2)
        spans = [tracer.start_span("c")]  # oldest, but fewest
        clock.advance(seconds=1)
        spans += [tracer.start_span(name) for name in ("a", "a", "a", "b", "b")]
        clock.advance(seconds=1)
        report = leaks.check()
        assert report.names == (LeakingName("a", 3, S), LeakingName("b", 2, S))
        assert report.total == 6 and report.omitted_names == 1
        assert report.leaking_names() == frozenset({"a", "b"})
        assert leaks.unfinished() == {"a": 3, "b": 2, OTHER_NAME: 1}
        for span in spans:
            span.end()
        assert leaks.unfinished() == {}

    def test_check_accepts_explicit_now(self, provider: TracerProvider, clock: FakeClock) -> None:
        """check(now_ns) measures ages against the given time, not the clock."""
        leaks, tracer = make(provider, clock, leak_after_s=5.0)
        tracer.start_span("x")
        assert leaks.check(clock.now_ns + 6 * S).names == (LeakingName("x", 1, 6 * S),)
        assert leaks.unfinished(clock.now_ns + 6 * S) == {"x": 1}
        assert leaks.check().total == 0


class TestBounds:
    def test_full_registry_drops_and_counts(
        self, provider: TracerProvider, clock: FakeClock
    ) -> None:
        """Beyond max_open new spans are not tracked and are counted as registry_full."""
        leaks, tracer = make(provider, clock, max_open=3)
        spans = [tracer.start_span(f"s{i}") for i in range(5)]
        assert leaks.open_spans() == 3
        assert leaks.dropped() == {"registry_full": 2}
        for span in spans:
            span.end()  # ending an untracked span is harmless
        assert leaks.open_spans() == 0
        tracer.start_span("after")
        assert leaks.open_spans() == 1 and leaks.dropped() == {"registry_full": 2}

    @pytest.mark.parametrize(
        ("kwargs", "argument"),
        [
            ({"leak_after_s": 0}, "leak_after_s"),
            ({"leak_after_s": -1.0}, "leak_after_s"),
            ({"leak_after_s": float("nan")}, "leak_after_s"),
            ({"max_open": 0}, "max_open"),
            ({"max_open": 2.5}, "max_open"),
            ({"max_open": True}, "max_open"),
            ({"top_n": 0}, "top_n"),
            ({"on_leak": 3}, "on_leak"),
            ({"clock": "now"}, "clock"),
        ],
    )
    def test_constructor_rejects_bad_argument(
        self, kwargs: dict[str, object], argument: str
    ) -> None:
        """A bad constructor argument raises ValueError naming the argument."""
        with pytest.raises(ValueError, match=f"^{argument} must be"):
            SpanLeakProcessor(**kwargs)  # type: ignore[arg-type]


class TestOnLeak:
    def test_on_leak_fires_once_per_change_and_is_rate_limited(
        self, provider: TracerProvider, clock: FakeClock
    ) -> None:
        """on_leak fires when the leaking names change, at most once per leak_after_s."""
        calls: list[SpanLeakReport] = []
        leaks, tracer = make(provider, clock, leak_after_s=10.0, on_leak=calls.append)
        a = tracer.start_span("A")
        clock.advance(seconds=5)
        leaks.check()
        assert calls == []  # nothing leaks yet: no change from the empty set
        clock.advance(seconds=5)  # t=10: A leaks
        leaks.check()
        leaks.check()
        assert [c.leaking_names() for c in calls] == [{"A"}]
        b = tracer.start_span("B")  # t=10
        clock.advance(seconds=2)
        a.end()  # t=12
        clock.advance(seconds=3)  # t=15: set is now empty, but the last call was 5 s ago
        leaks.check()
        assert len(calls) == 1
        clock.advance(seconds=5)  # t=20: B leaks; the set {B} differs from {A}
        leaks.check()
        leaks.check()
        assert [c.leaking_names() for c in calls] == [{"A"}, {"B"}]
        assert calls[-1].names == (LeakingName("B", 1, 10 * S),)
        b.end()
        clock.advance(seconds=10)  # t=30: leaks cleared, reported with an empty report
        leaks.check()
        assert len(calls) == 3
        assert calls[-1].leaking_names() == frozenset() and calls[-1].total == 0

    def test_failing_on_leak_hook_is_logged_not_raised(
        self,
        provider: TracerProvider,
        clock: FakeClock,
        monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        """A hook that raises is logged and check() still returns the report."""
        monkeypatch.delenv("OTELPERF_RAISE_INTERNAL_ERRORS")

        def boom(report: SpanLeakReport) -> None:
            raise RuntimeError("sink down")

        leaks, tracer = make(provider, clock, leak_after_s=1.0, on_leak=boom)
        tracer.start_span("x")
        clock.advance(seconds=1)
        with caplog.at_level(logging.ERROR, logger="otelperf"):
            report = leaks.check()
        assert report.total == 1
        assert any("boom" in r.getMessage() for r in caplog.records)


class TestConcurrency:
    def test_threads_starting_and_ending_leave_registry_empty(
        self, provider: TracerProvider
    ) -> None:
        """8 threads x 5000 start/end, with concurrent scans, leave nothing open or dropped."""
        leaks = SpanLeakProcessor(leak_after_s=0.001)
        provider.add_span_processor(leaks)
        tracer = provider.get_tracer("test")
        # Long-lived spans make every scan long enough, and a short switch interval makes thread
        # switches inside it frequent enough, that scanning the live dict instead of a copy fails.
        held = [tracer.start_span("held") for _ in range(2000)]
        barrier = threading.Barrier(9)
        done = threading.Event()
        errors: list[BaseException] = []

        def work(i: int) -> None:
            barrier.wait()
            for j in range(5000):
                tracer.start_span(f"op{(i + j) % 7}").end()

        def scan() -> None:
            barrier.wait()
            try:
                while not done.is_set():
                    leaks.check()
                    leaks.unfinished()
            except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
                errors.append(exc)

        workers = [threading.Thread(target=work, args=(i,)) for i in range(8)]
        scanner = threading.Thread(target=scan)
        old_interval = sys.getswitchinterval()
        sys.setswitchinterval(1e-5)
        try:
            for thread in [*workers, scanner]:
                thread.start()
            for thread in workers:
                thread.join()
            done.set()
            scanner.join()
        finally:
            sys.setswitchinterval(old_interval)
        assert errors == []
        assert leaks.open_spans() == len(held)
        for span in held:
            span.end()
        assert leaks.open_spans() == 0
        assert leaks.dropped() == {}
        assert leaks.check().total == 0


class TestFork:
    @pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
    def test_forked_child_starts_with_empty_registry(
        self, provider: TracerProvider, clock: FakeClock
    ) -> None:
        """After os.fork the child has none of the parent's spans or drops, and tracks its own."""
        leaks, tracer = make(provider, clock, leak_after_s=1.0, max_open=1)
        tracer.start_span("parent leak")
        tracer.start_span("parent drop")
        assert leaks.open_spans() == 1 and leaks.dropped() == {"registry_full": 1}
        read_fd, write_fd = os.pipe()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: fork with threads
            pid = os.fork()
        if pid == 0:  # child: report through the pipe, never return into pytest
            code = 1
            try:
                clock.advance(seconds=5)
                empty = leaks.open_spans() == 0 and leaks.dropped() == {}
                empty = empty and leaks.check().total == 0
                tracer.start_span("child leak")
                clock.advance(seconds=5)
                own = leaks.check().names == (LeakingName("child leak", 1, 5 * S),)
                code = 0 if empty and own else 2
            finally:
                os.write(write_fd, bytes([code]))
                os._exit(0)
        os.close(write_fd)
        try:
            result = os.read(read_fd, 1)
        finally:
            os.close(read_fd)
            os.waitpid(pid, 0)
        assert result == b"\x00"
        clock.advance(seconds=5)
        assert leaks.check().names == (LeakingName("parent leak", 1, 5 * S),)

    def test_pid_change_without_fork_hooks_clears_registry_on_check(
        self, provider: TracerProvider, clock: FakeClock
    ) -> None:
        """A child whose at-fork hooks did not run drops the parent's spans at its first check."""
        leaks, tracer = make(provider, clock, leak_after_s=1.0)
        tracer.start_span("parent leak")
        clock.advance(seconds=2)
        leaks._pid = os.getpid() + 1  # what a hook-less child looks like
        assert leaks.check().total == 0
        assert leaks.open_spans() == 0


class TestErrors:
    def test_broken_registry_does_not_stop_spans(
        self,
        provider: TracerProvider,
        clock: FakeClock,
        monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        """A registry that raises is logged; spans still start, end and reach the exporter."""
        monkeypatch.delenv("OTELPERF_RAISE_INTERNAL_ERRORS")

        class Broken(dict[int, tuple[str, int]]):
            def __setitem__(self, key: int, value: tuple[str, int]) -> None:
                raise RuntimeError("registry broken")

            def pop(self, key: int, default: object = None) -> tuple[str, int]:
                raise RuntimeError("registry broken")

        leaks, tracer = make(provider, clock)
        exporter = InMemorySpanExporter()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        leaks._open = Broken()
        with caplog.at_level(logging.ERROR, logger="otelperf"):
            for _ in range(3):
                span = tracer.start_span("still works")
                span.end()
        assert [s.name for s in exporter.get_finished_spans()] == ["still works"] * 3
        messages = [r.getMessage() for r in caplog.records]
        assert any("SpanLeakProcessor.on_start" in m for m in messages)
        assert any("SpanLeakProcessor.on_end" in m for m in messages)

    def test_internal_errors_propagate_under_test_suite(
        self, provider: TracerProvider, clock: FakeClock
    ) -> None:
        """With OTELPERF_RAISE_INTERNAL_ERRORS=1 a hook bug surfaces instead of being swallowed."""
        leaks, tracer = make(provider, clock)

        class Broken(dict[int, tuple[str, int]]):
            def __setitem__(self, key: int, value: tuple[str, int]) -> None:
                raise RuntimeError("registry broken")

        leaks._open = Broken()
        with pytest.raises(RuntimeError, match="registry broken"):
            tracer.start_span("x")


class TestShutdown:
    def test_shutdown_is_idempotent_and_stops_tracking(
        self, provider: TracerProvider, clock: FakeClock
    ) -> None:
        """shutdown twice is fine; afterwards nothing is tracked, dropped or reported."""
        calls: list[SpanLeakReport] = []
        leaks, tracer = make(provider, clock, leak_after_s=1.0, on_leak=calls.append)
        tracer.start_span("before")
        leaks.shutdown()
        leaks.shutdown()
        tracer.start_span("after")
        clock.advance(seconds=5)
        assert leaks.open_spans() == 0 and leaks.dropped() == {}
        assert leaks.check().total == 0 and leaks.unfinished() == {}
        assert calls == []
        assert leaks.force_flush() is True
        provider.shutdown()  # the provider shuts it down once more

"""never_raise, the rate-limited logger, suppression of our own traffic, and the fork registry."""

from __future__ import annotations

import gc
import logging
import os
import uuid

import pytest
from opentelemetry.instrumentation.utils import is_instrumentation_enabled

from otelperf import _fork
from otelperf._safety import RateLimitFilter, logger, never_raise, suppressed


class TestNeverRaise:
    def test_swallows_and_logs_outside_the_test_suite(
        self, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
    ) -> None:
        """With internal-error raising off, the exception is logged and None returned."""
        monkeypatch.delenv("OTELPERF_RAISE_INTERNAL_ERRORS")

        @never_raise
        def broken_for_swallow_test() -> int:
            raise RuntimeError("boom-for-swallow-test")

        with caplog.at_level(logging.ERROR, logger="otelperf"):
            assert broken_for_swallow_test() is None
        assert any("broken_for_swallow_test" in r.getMessage() for r in caplog.records)

    def test_reraises_under_the_test_suite(self) -> None:
        """OTELPERF_RAISE_INTERNAL_ERRORS=1 (set by conftest) makes bugs surface."""

        @never_raise
        def broken() -> None:
            raise RuntimeError("surface me")

        with pytest.raises(RuntimeError, match="surface me"):
            broken()

    def test_returns_the_result_when_nothing_fails(self) -> None:
        """The wrapped function's result passes through."""
        assert never_raise(lambda: 42)() == 42


class TestRateLimitFilter:
    def test_repeats_are_dropped_within_the_interval_distinct_records_pass(self) -> None:
        """The same record twice: only the first passes; other arguments are another record."""
        limiter = RateLimitFilter(interval_s=60)
        template = "export failed: %s"
        first = logging.LogRecord("otelperf", logging.ERROR, "f", 1, template, ("a",), None)
        again = logging.LogRecord("otelperf", logging.ERROR, "f", 2, template, ("a",), None)
        other = logging.LogRecord("otelperf", logging.ERROR, "f", 1, template, ("b",), None)
        assert limiter.filter(first)
        assert not limiter.filter(again)
        assert limiter.filter(other)

    def test_passes_again_after_the_interval(self) -> None:
        """With a zero interval every record passes."""
        limiter = RateLimitFilter(interval_s=0)
        record = logging.LogRecord("otelperf", logging.ERROR, "f", 1, "x", (), None)
        assert limiter.filter(record)
        assert limiter.filter(record)

    def test_memory_is_bounded(self) -> None:
        """More templates than max_keys never grow the table past max_keys."""
        limiter = RateLimitFilter(interval_s=60, max_keys=10)
        for i in range(100):
            limiter.filter(logging.LogRecord("otelperf", logging.ERROR, "f", 1, f"m{i}", (), None))
        assert len(limiter._last_ns) <= 10

    def test_the_otelperf_logger_itself_drops_a_repeat(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Logged twice through the otelperf logger, a message reaches handlers once."""
        message = f"rate-limit check {uuid.uuid4()}"
        other = f"rate-limit check {uuid.uuid4()}"
        with caplog.at_level(logging.WARNING, logger="otelperf"):
            logger.warning(message)
            logger.warning(message)
            logger.warning(other)
        seen = [r.getMessage() for r in caplog.records]
        assert seen.count(message) == 1
        assert seen.count(other) == 1


class TestSuppressed:
    def test_instrumentation_is_off_inside_only(self) -> None:
        """Inside suppressed() OTel instrumentations see themselves disabled; after, enabled."""
        assert is_instrumentation_enabled()
        with suppressed():
            assert not is_instrumentation_enabled()
        assert is_instrumentation_enabled()


class _Counter:
    def __init__(self) -> None:
        self.calls = 0

    def reinit(self) -> None:
        self.calls += 1


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
class TestForkRegistry:
    def test_child_runs_registered_reinit(self) -> None:
        """A registered bound method runs in the child after fork, not in the parent."""
        counter = _Counter()
        _fork.register(counter.reinit)
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # child
            os.write(write, str(counter.calls).encode())
            os._exit(0)
        os.close(write)
        child_calls = os.read(read, 16).decode()
        os.close(read)
        os.waitpid(pid, 0)
        assert child_calls == "1"
        assert counter.calls == 0

    def test_collected_objects_are_not_revived(self) -> None:
        """Registration is weak: a collected object's reinit is skipped and forgotten."""
        counter = _Counter()
        _fork.register(counter.reinit)
        del counter
        gc.collect()
        pid = os.fork()
        if pid == 0:
            os._exit(0 if all(ref() is not None for ref in _fork._callbacks) else 3)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0

    def test_plain_functions_are_refused(self) -> None:
        """A plain function would die at once as a weak method: TypeError."""
        with pytest.raises(TypeError, match="bound method"):
            _fork.register(print)

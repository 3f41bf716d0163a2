"""The public API: otelperf.stats() and otelperf.track()."""

from __future__ import annotations

import asyncio
import time

import pytest

import otelperf

pytestmark = pytest.mark.usefixtures("fresh_globals")


def settle() -> None:
    """Give the aggregator thread one drain interval."""
    time.sleep(0.3)


class TestStats:
    def test_before_configure_there_is_nothing(self) -> None:
        """stats() is empty and stats(name) None before configure()."""
        assert otelperf.stats() == {}
        assert otelperf.stats("GET /x") is None

    def test_every_operation_is_listed_with_its_window(self) -> None:
        """stats() maps each operation to OperationStats with the documented fields."""
        otelperf.configure(exporters="none", window_s=30)
        with otelperf.track("a"):
            pass
        for _ in range(3):
            with otelperf.track("b"):
                time.sleep(0.001)
        settle()
        found = otelperf.stats()
        assert isinstance(found, dict)
        assert sorted(found) == ["a", "b"]
        b = found["b"]
        assert isinstance(b, otelperf.OperationStats)
        assert b.count == 3 and b.errors == 0 and b.error_rate == 0.0
        assert 1.0 <= b.min_ms <= b.p50_ms <= b.p99_ms <= b.max_ms
        assert b.window_s <= 30
        assert b.quantile(0.5) == pytest.approx(b.p50_ms)


class TestTrack:
    def test_context_manager_records_an_error_and_reraises(self) -> None:
        """An exception inside track() marks the operation's error and propagates."""
        otelperf.configure(exporters="none")
        with pytest.raises(KeyError), otelperf.track("lookup"):
            raise KeyError("x")
        settle()
        stats = otelperf.stats("lookup")
        assert stats is not None and stats.errors == 1

    def test_decorates_sync_and_async_functions(self) -> None:
        """@track times each call of a plain or a coroutine function."""
        otelperf.configure(exporters="none")

        @otelperf.track("sync.job")
        def job(x: int) -> int:
            return x * 2

        @otelperf.track("async.job")
        async def ajob(x: int) -> int:
            await asyncio.sleep(0.002)
            return x + 1

        assert job(2) == 4
        assert asyncio.run(ajob(1)) == 2
        assert job.__name__ == "job"
        settle()
        assert otelperf.stats("sync.job").count == 1  # type: ignore[union-attr]
        async_stats = otelperf.stats("async.job")
        assert async_stats is not None and async_stats.min_ms >= 2.0

    def test_one_instance_nests_and_is_reentrant(self) -> None:
        """The same track object can be entered inside itself; spans nest."""
        otelperf.configure(exporters="none")
        outer = otelperf.track("nested")
        with outer as parent, outer as child:
            assert child.get_span_context().trace_id == parent.get_span_context().trace_id
        settle()
        assert otelperf.stats("nested").count == 2  # type: ignore[union-attr]

    def test_empty_name_is_refused(self) -> None:
        """track('') raises ValueError."""
        with pytest.raises(ValueError, match="non-empty"):
            otelperf.track("")

"""LatencyProcessor + Aggregator through the real SDK: accuracy, window, concurrency, bounds."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

import numpy as np
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Status, StatusCode

from otelperf.aggregates import OTHER_KEY
from otelperf.processors.aggregator import Aggregator
from otelperf.processors.latency import LatencyProcessor
from otelperf.testing import FakeClock, capture_spans

QUANTILES = (0.5, 0.9, 0.95, 0.99, 0.999)


def latencies_ms(shape: str, n: int, seed: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if shape == "lognormal":
        return rng.lognormal(mean=np.log(20), sigma=0.8, size=n)
    if shape == "bimodal":
        fast = rng.lognormal(np.log(5), 0.25, size=n * 9 // 10)
        slow = rng.lognormal(np.log(300), 0.25, size=n - len(fast))
        return rng.permutation(np.concatenate([fast, slow]))
    assert shape == "pareto"
    return (rng.pareto(1.5, size=n) + 1) * 5.0


@pytest.fixture
def aggregator() -> Iterator[Aggregator]:
    """An aggregator whose thread never drains by itself: tests call flush()."""
    agg = Aggregator(ring_size=1_000_000, interval_s=3600, clock=FakeClock())
    yield agg
    agg.shutdown()


def run_spans(aggregator: Aggregator, name: str, durations_ms: np.ndarray) -> None:
    with capture_spans(processors=[LatencyProcessor(aggregator)]) as captured:
        tracer = captured.tracer
        exporter_spans = captured.exporter
        for duration in durations_ms:
            span = tracer.start_span(name, start_time=1_000)
            span.end(end_time=1_000 + round(duration * 1e6))
        exporter_spans.clear()


class TestAccuracy:
    @pytest.mark.parametrize("shape", ["lognormal", "bimodal", "pareto"])
    def test_percentiles_within_1_percent_of_exact(
        self, aggregator: Aggregator, shape: str
    ) -> None:
        """100k spans through the SDK: p50..p99.9 within 1 % of numpy's exact quantiles."""
        values = latencies_ms(shape, 100_000)
        run_spans(aggregator, "GET /x", values)
        aggregator.flush()
        stats = aggregator.stats("GET /x")
        assert stats is not None and stats.count == 100_000
        ordered = np.sort(values)
        for q in QUANTILES:
            got = stats.quantile(q)
            exact = float(np.quantile(values, q))
            rank = q * (len(ordered) - 1)
            low, high = ordered[int(np.floor(rank))], ordered[int(np.ceil(rank))]
            # In a gap between two modes any value between the neighbours counts as exact.
            if high / low > 1.02:
                assert low * 0.99 <= got <= high * 1.01, (q, got, low, high)
            else:
                assert abs(got - exact) / exact <= 0.01, (q, got, exact)
        assert stats.p99_ms == pytest.approx(stats.quantile(0.99))


class TestWindow:
    def test_old_samples_leave_the_window_on_time(self) -> None:
        """Spans older than window_s stop counting once the window has moved past them."""
        clock = FakeClock()
        agg = Aggregator(window_s=60, interval_s=3600, clock=clock)
        run_spans(agg, "op", np.full(10, 5.0))
        agg.flush()
        assert agg.stats("op").count == 10  # type: ignore[union-attr]
        clock.advance(seconds=30)
        run_spans(agg, "op", np.full(5, 5.0))
        agg.flush()
        assert agg.stats("op").count == 15  # type: ignore[union-attr]
        clock.advance(seconds=45)  # the first batch is 75 s old, the second 45 s
        assert agg.stats("op").count == 5  # type: ignore[union-attr]
        clock.advance(seconds=61)
        assert agg.stats("op") is None
        assert agg.all_stats() == {}
        agg.shutdown()

    def test_window_s_is_reported(self) -> None:
        """The window length in the result never exceeds window_s."""
        clock = FakeClock()
        agg = Aggregator(window_s=10, interval_s=3600, clock=clock)
        run_spans(agg, "op", np.full(3, 1.0))
        agg.flush()
        clock.advance(seconds=25)
        run_spans(agg, "op", np.full(3, 1.0))
        agg.flush()
        stats = agg.stats("op")
        assert stats is not None and stats.count == 3
        assert stats.window_s <= 10
        agg.shutdown()


class TestConcurrency:
    def test_eight_threads_counts_add_up_exactly(self) -> None:
        """8 threads x 20k spans with a large ring: every span is counted, none dropped."""
        agg = Aggregator(ring_size=200_000)
        provider = TracerProvider(shutdown_on_exit=False)
        provider.add_span_processor(LatencyProcessor(agg))
        tracer = provider.get_tracer("t")

        def work(i: int) -> None:
            for j in range(20_000):
                span = tracer.start_span(f"op{i % 4}")
                if j % 100 == 0:
                    span.set_status(Status(StatusCode.ERROR))
                span.end()

        threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        agg.flush()
        stats = agg.all_stats()
        assert sum(s.count for s in stats.values()) == 160_000
        assert sum(s.errors for s in stats.values()) == 8 * 200
        assert agg.dropped() == {}
        provider.shutdown()

    def test_full_ring_drops_and_counts(self) -> None:
        """A ring smaller than a burst drops spans, and measured + dropped == ended."""
        agg = Aggregator(ring_size=16, interval_s=3600)
        run_spans(agg, "op", np.full(5_000, 1.0))
        agg.flush()
        dropped = agg.dropped().get("queue_full", 0)
        assert dropped > 0
        assert agg.stats("op").count + dropped == 5_000  # type: ignore[union-attr]
        agg.shutdown()

    def test_half_full_ring_wakes_the_aggregator(self) -> None:
        """Reaching half the capacity drains the ring without waiting for the interval."""
        agg = Aggregator(ring_size=64, interval_s=3600)
        run_spans(agg, "op", np.full(40, 1.0))
        assert _wait(lambda: (agg.stats("op") or _Zero()).count >= 33)
        agg.shutdown()


class TestRequestThreadNeverWaits:
    """A full ring is counted without the store lock, which exports and stats() hold."""

    HOLD_S = 2.0

    @pytest.fixture
    def held(self) -> Iterator[Aggregator]:
        """An aggregator whose store lock another thread holds for HOLD_S (or to the end)."""
        agg = Aggregator(ring_size=16, interval_s=3600)
        locked, release = threading.Event(), threading.Event()

        def hold(now_ns: int, store: object) -> None:
            locked.set()
            release.wait(self.HOLD_S)

        holder = threading.Thread(target=agg.with_store, args=(hold,))
        holder.start()
        assert locked.wait(5)
        yield agg
        release.set()
        holder.join(5)
        agg.shutdown()

    def test_full_ring_span_end_returns_while_the_store_is_locked(self, held: Aggregator) -> None:
        """Ending 200 spans into a full ring finishes within 0.2 s while the lock is held 2 s."""
        provider = TracerProvider(shutdown_on_exit=False)
        provider.add_span_processor(LatencyProcessor(held))
        tracer = provider.get_tracer("t")
        done = threading.Event()

        def end_spans() -> None:
            for _ in range(200):
                tracer.start_span("op").end()
            done.set()

        threading.Thread(target=end_spans, daemon=True).start()
        assert done.wait(0.2), "span.end() waited for the store lock"
        assert held.dropped()["queue_full"] >= 200 - 2 * 16  # the aggregator may hold a batch
        provider.shutdown()

    def test_other_drop_reasons_do_not_wait_for_the_store_lock(self, held: Aggregator) -> None:
        """count_drop() of any reason and dropped() return while the store lock is held."""
        done = threading.Event()

        def count() -> None:
            held.count_drop("tail_late", 3)
            held.count_drop("queue_full", 2)
            held.dropped()
            done.set()

        threading.Thread(target=count, daemon=True).start()
        assert done.wait(0.2), "counting a drop waited for the store lock"
        assert held.dropped() == {"tail_late": 3, "queue_full": 2}

    def test_drop_count_is_exact_with_concurrent_readers(self) -> None:
        """4 threads x 5000 lock-free bumps while another thread reads: the total is exact."""
        agg = Aggregator(interval_s=3600)
        stop = threading.Event()
        seen: list[int] = []

        def bump() -> None:
            for _ in range(5000):
                agg.count_queue_full()

        def read() -> None:
            while not stop.is_set():
                seen.append(agg.dropped().get("queue_full", 0))

        reader = threading.Thread(target=read)
        reader.start()
        bumpers = [threading.Thread(target=bump) for _ in range(4)]
        for thread in bumpers:
            thread.start()
        for thread in bumpers:
            thread.join()
        stop.set()
        reader.join()
        assert agg.dropped() == {"queue_full": 20_000}
        assert agg.dropped() == {"queue_full": 20_000}  # reading does not change it
        assert seen == sorted(seen) and seen[-1] <= 20_000
        agg.shutdown()


class _Zero:
    count = 0


def _wait(predicate: object, timeout_s: float = 5.0) -> bool:
    import time

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.01)
    return False


class TestBounds:
    def test_operations_beyond_the_cap_fold_into_other(self) -> None:
        """With max_operations=3 the 4th and later names are counted under otelperf.other."""
        agg = Aggregator(max_operations=3, interval_s=3600)
        for i in range(10):
            run_spans(agg, f"op{i}", np.full(2, 1.0))
        agg.flush()
        stats = agg.all_stats()
        assert sorted(stats) == sorted(["op0", "op1", "op2", OTHER_KEY])
        assert stats[OTHER_KEY].count == 14
        assert agg.with_store(lambda now, store: store.folded_samples) == 14
        agg.shutdown()

    def test_key_attributes_extend_the_key(self) -> None:
        """key_attributes append the named span attributes to the operation key."""
        agg = Aggregator(key_attributes=("tenant",), interval_s=3600)
        with capture_spans(processors=[LatencyProcessor(agg)]) as captured:
            captured.tracer.start_span("GET /x", attributes={"tenant": "acme"}).end()
            captured.tracer.start_span("GET /x").end()
        agg.flush()
        assert sorted(agg.all_stats()) == ["GET /x", "GET /x {tenant=acme}"]
        agg.shutdown()


class TestContainment:
    def test_a_failing_ring_does_not_stop_the_span_from_ending(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """If the processor breaks, the span still ends and reaches the next processor."""
        monkeypatch.delenv("OTELPERF_RAISE_INTERNAL_ERRORS")
        agg = Aggregator(interval_s=3600)
        processor = LatencyProcessor(agg)
        processor._ring = None  # type: ignore[assignment]  # any use now raises
        with capture_spans(processors=[processor]) as captured:
            captured.tracer.start_span("still-ends").end()
            assert captured.names() == ["still-ends"]
        agg.shutdown()

    def test_shutdown_is_idempotent(self) -> None:
        """Calling shutdown twice is harmless."""
        agg = Aggregator()
        processor = LatencyProcessor(agg)
        processor.shutdown()
        processor.shutdown()
        assert processor.force_flush()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
class TestFork:
    def test_child_starts_empty_with_a_live_aggregator(self) -> None:
        """After fork the child's store is empty and its aggregator thread drains new spans."""
        agg = Aggregator(interval_s=0.05)
        run_spans(agg, "parent-op", np.full(5, 1.0))
        agg.flush()
        agg.count_drop("queue_full", 4)
        agg.count_drop("tail_late", 1)
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                empty = agg.all_stats() == {} and agg.dropped() == {}
                run_spans(agg, "child-op", np.full(3, 1.0))
                drained = _wait(lambda: (agg.stats("child-op") or _Zero()).count == 3)
                os.write(
                    write, b"ok" if empty and drained and agg.stats("parent-op") is None else b"no"
                )
            finally:
                os._exit(0)
        os.close(write)
        answer = os.read(read, 8)
        os.close(read)
        os.waitpid(pid, 0)
        assert answer == b"ok"
        assert agg.stats("parent-op").count == 5  # type: ignore[union-attr]
        assert agg.dropped() == {"queue_full": 4, "tail_late": 1}
        agg.shutdown()

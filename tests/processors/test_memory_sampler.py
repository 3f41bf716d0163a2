"""MemorySampler, read_memory_limit, AllocationProfiler and MemoryMonitor against this process."""

from __future__ import annotations

import gc
import itertools
import logging
import os
import threading
import time
import tracemalloc
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import otelperf._safety
from otelperf.leaks import (
    BYTES_PER_MB,
    AllocationSite,
    GrowthAnalyzer,
    GrowthReport,
    MemoryLimit,
    TypeGrowth,
    Verdict,
)
from otelperf.processors.allocations import AllocationProfiler
from otelperf.processors.leaks import MEMORY_THREAD_NAME, MemoryMonitor
from otelperf.processors.memory import MemorySample, MemorySampler, read_memory_limit

MB = BYTES_PER_MB


class FakeClock:
    """A monotonic nanosecond clock that moves only when told to."""

    def __init__(self) -> None:
        self.now_ns = 0

    def __call__(self) -> int:
        return self.now_ns

    def advance(self, seconds: float) -> None:
        self.now_ns += round(seconds * 1e9)


def wait_for(predicate: Callable[[], bool], *, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.005)
    return predicate()


def make_sample(
    *, timestamp_ns: int, rss_bytes: int, vms_bytes: int = 0, limit: MemoryLimit | None = None
) -> MemorySample:
    return MemorySample(
        timestamp_ns=timestamp_ns,
        pid=os.getpid(),
        rss_bytes=rss_bytes,
        vms_bytes=vms_bytes or rss_bytes,
        uss_bytes=None,
        heap_blocks=0,
        gc_counts=(0, 0, 0),
        gc_collections=(0, 0, 0),
        gc_collected=0,
        gc_uncollectable=0,
        gc_garbage=0,
        limit=limit,
    )


class ScriptedSampler(MemorySampler):
    """Samples from a function of the tick number, each one 10 s later on a fake clock."""

    def __init__(self, script: Callable[[int], MemorySample | Exception]) -> None:
        self.reinits = -1  # the base constructor calls reinit() once
        super().__init__(uss_every=0, limit_reader=lambda: None)
        self.script = script
        self.ticks = 0

    def reinit(self) -> None:
        self.reinits += 1
        super().reinit()

    def sample(self) -> MemorySample:
        self.ticks += 1
        result = self.script(self.ticks)
        if isinstance(result, Exception):
            raise result
        return result


def steady_leak(*, limit: MemoryLimit | None = None, vms_extra: int = 0) -> ScriptedSampler:
    """100 MB + 1 MB per 10 s tick (360 MB/h)."""

    def script(tick: int) -> MemorySample:
        rss = 100 * MB + tick * MB
        return make_sample(
            timestamp_ns=tick * 10 * 10**9, rss_bytes=rss, vms_bytes=rss + vms_extra, limit=limit
        )

    return ScriptedSampler(script)


def quick_analyzer(**overrides: float) -> GrowthAnalyzer:
    """Tiny windows for real-time tests; thresholds far above anything but a deliberate leak."""
    kwargs: dict[str, float] = {
        "window_s": 0.6,
        "warmup_s": 0.0,
        "min_growth_mb_per_h": 36_000.0,  # 10 MB/s
        "min_samples": 12,
        "max_points": 60,
    }
    kwargs.update(overrides)
    return GrowthAnalyzer(**kwargs)  # type: ignore[arg-type]


@pytest.fixture
def monitors() -> Iterator[list[MemoryMonitor]]:
    """Monitors created by a test; all are shut down (and their threads joined) afterwards."""
    created: list[MemoryMonitor] = []
    yield created
    for monitor in created:
        assert monitor.shutdown(timeout_s=5.0)


def _leak_one_mb(store: list[bytes]) -> None:
    store.append(b"x" * MB)


LEAK_LINE = _leak_one_mb.__code__.co_firstlineno + 1


class TestMemorySampler:
    def test_sample_fields_are_sane_for_this_process(self) -> None:
        """A real sample describes this process with plausible numbers and the injected clock."""
        clock = FakeClock()
        clock.advance(42.0)
        sample = MemorySampler(clock=clock, uss_every=1).sample()
        assert sample.timestamp_ns == 42 * 10**9
        assert sample.pid == os.getpid()
        assert 1 * MB < sample.rss_bytes <= sample.vms_bytes
        assert sample.uss_bytes is not None and 0 < sample.uss_bytes <= sample.rss_bytes
        assert sample.heap_blocks > 1000
        assert len(sample.gc_counts) == len(sample.gc_collections) == len(gc.get_stats())
        assert sample.gc_collected >= 0 and sample.gc_uncollectable >= 0
        assert sample.gc_garbage == len(gc.garbage)

    @pytest.mark.parametrize(
        ("uss_every", "with_uss"),
        [(0, [False] * 7), (1, [True] * 7), (3, [True, False, False, True, False, False, True])],
    )
    def test_uss_is_read_on_every_nth_sample(self, uss_every: int, with_uss: list[bool]) -> None:
        """USS (costly) is read on the first and every uss_every-th sample; 0 means never."""
        sampler = MemorySampler(uss_every=uss_every)
        assert [sampler.sample().uss_bytes is not None for _ in with_uss] == with_uss

    def test_limit_is_read_on_the_first_sample_and_refreshed(self) -> None:
        """The limit reader runs on sample 1 and then every 60 samples, not every time."""
        calls: list[int] = []

        def reader() -> MemoryLimit:
            calls.append(1)
            return MemoryLimit(limit_bytes=len(calls) * MB, source="cgroup_v2")

        sampler = MemorySampler(uss_every=0, limit_reader=reader)
        samples = [sampler.sample() for _ in range(61)]
        assert len(calls) == 2
        assert samples[0].limit == MemoryLimit(limit_bytes=MB, source="cgroup_v2")
        assert samples[60].limit == MemoryLimit(limit_bytes=2 * MB, source="cgroup_v2")

    def test_negative_uss_every_raises(self) -> None:
        """uss_every must be >= 0."""
        with pytest.raises(ValueError, match="uss_every"):
            MemorySampler(uss_every=-1)


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


class TestReadMemoryLimit:
    @pytest.mark.parametrize(
        ("files", "rlimit", "expected"),
        [
            (
                {"proc": "0::/app\n", "cg/app/memory.max": "1000\n"},
                None,
                MemoryLimit(limit_bytes=1000, source="cgroup_v2"),
            ),
            ({"proc": "0::/app\n", "cg/app/memory.max": "max\n"}, None, None),
            (
                {"proc": "0::/app\n", "cg/app/memory.max": "max\n"},
                5000,
                MemoryLimit(limit_bytes=5000, source="rlimit_as"),
            ),
            (
                {"proc": "0::/a/b\n", "cg/a/b/memory.max": "max", "cg/a/memory.max": "2000"},
                None,
                MemoryLimit(limit_bytes=2000, source="cgroup_v2"),
            ),
            (
                {"proc": "0::/\n", "cg/memory.max": "3000\n"},
                None,
                MemoryLimit(limit_bytes=3000, source="cgroup_v2"),
            ),
            (
                {"proc": "0::/not/mounted/here\n", "cg/memory.max": "3000\n"},
                None,
                MemoryLimit(limit_bytes=3000, source="cgroup_v2"),
            ),
            (
                {
                    "proc": "4:memory:/docker/abc\n0::/\n",
                    "cg/memory/docker/abc/memory.limit_in_bytes": "4000\n",
                },
                None,
                MemoryLimit(limit_bytes=4000, source="cgroup_v1"),
            ),
            (
                {
                    "proc": "4:memory:/\n",
                    "cg/memory/memory.limit_in_bytes": "9223372036854771712\n",
                },
                None,
                None,
            ),
            (
                {"proc": "0::/app\n", "cg/app/memory.max": "6000\n"},
                5000,
                MemoryLimit(limit_bytes=5000, source="rlimit_as"),
            ),
            ({}, 7000, MemoryLimit(limit_bytes=7000, source="rlimit_as")),
            ({}, None, None),
        ],
        ids=[
            "v2 number",
            "v2 max",
            "v2 max, rlimit",
            "v2 ancestor tighter",
            "v2 namespace root",
            "v2 path outside the mount",
            "v1 number",
            "v1 unlimited",
            "rlimit tighter than cgroup",
            "no cgroup files, rlimit",
            "nothing at all",
        ],
    )
    def test_tightest_limit_from_fake_files(
        self,
        tmp_path: Path,
        files: dict[str, str],
        rlimit: int | None,
        expected: MemoryLimit | None,
    ) -> None:
        """cgroup v2, v1 and RLIMIT_AS are read from injected paths; the smallest wins."""
        write(tmp_path, files)
        limit = read_memory_limit(
            cgroup_root=str(tmp_path / "cg"),
            proc_cgroup=str(tmp_path / "proc"),
            rlimit_as=lambda: rlimit,
        )
        assert limit == expected

    def test_real_system_gives_none_or_a_positive_limit(self) -> None:
        """On the machine running the tests the reader works and returns something sane."""
        limit = read_memory_limit()
        assert limit is None or limit.limit_bytes > 0


class TestAllocationProfiler:
    def test_names_the_growing_line_and_type(self) -> None:
        """Between two diffs, the line and the class that accumulate come out on top."""

        class Leaky:
            pass

        was_tracing = tracemalloc.is_tracing()
        profiler = AllocationProfiler(lookback=1)
        profiler.start()
        try:
            assert profiler.diff() == ((), ())
            store: list[bytes] = []
            objects = [Leaky() for _ in range(500)]
            for _ in range(3):
                _leak_one_mb(store)
            sites, types = profiler.diff()
        finally:
            profiler.stop()
        assert (sites[0].file, sites[0].line) == (_leak_one_mb.__code__.co_filename, LEAK_LINE)
        assert sites[0].size_diff_bytes >= 3 * MB
        assert any(t.type_name.endswith("Leaky") and t.count_diff >= 500 for t in types)
        assert tracemalloc.is_tracing() is was_tracing
        del objects

    def test_leaves_tracing_it_did_not_start(self) -> None:
        """If tracemalloc was already on, stop() leaves it on."""
        tracemalloc.start()
        try:
            profiler = AllocationProfiler()
            profiler.start()
            profiler.stop()
            assert tracemalloc.is_tracing()
        finally:
            tracemalloc.stop()

    @pytest.mark.parametrize("name", ["frames", "top", "lookback"])
    def test_bad_argument_raises(self, name: str) -> None:
        """frames, top and lookback must be >= 1."""
        with pytest.raises(ValueError, match=name):
            AllocationProfiler(**{name: 0})  # type: ignore[arg-type]


class TestMemoryMonitor:
    def test_thread_is_a_daemon_named_otelperf_memory(self, monitors: list[MemoryMonitor]) -> None:
        """The worker is a daemon thread called otelperf-memory."""
        monitors.append(monitor := MemoryMonitor(interval_s=60.0))
        threads = [t for t in threading.enumerate() if t is monitor._thread]
        assert [(t.name, t.daemon) for t in threads] == [(MEMORY_THREAD_NAME, True)]

    def test_first_sample_is_taken_at_once(self, monitors: list[MemoryMonitor]) -> None:
        """A report and sample are available right after start, not one interval later."""
        monitors.append(monitor := MemoryMonitor(interval_s=600.0))
        assert wait_for(lambda: monitor.latest is not None, timeout_s=5.0)
        latest = monitor.latest
        assert latest is not None
        assert latest[0].verdict is Verdict.INSUFFICIENT_DATA
        assert latest[1].pid == os.getpid()

    def test_real_leaking_workload_is_flagged(self, monitors: list[MemoryMonitor]) -> None:
        """Leaking 1 MB per 20 ms tick in this process is reported as a suspected leak."""
        store: list[bytes] = []
        reports: list[GrowthReport] = []

        def on_report(report: GrowthReport, sample: MemorySample) -> None:
            reports.append(report)
            if report.verdict is not Verdict.LEAK_SUSPECTED:
                _leak_one_mb(store)

        monitors.append(
            MemoryMonitor(interval_s=0.02, analyzer=quick_analyzer(), on_report=on_report)
        )
        assert wait_for(lambda: any(r.verdict is Verdict.LEAK_SUSPECTED for r in reports))
        store.clear()

    def test_quiet_process_is_not_flagged(self, monitors: list[MemoryMonitor]) -> None:
        """The same settings without the leak never suspect one."""
        reports: list[GrowthReport] = []
        monitors.append(
            MemoryMonitor(
                interval_s=0.02, analyzer=quick_analyzer(), on_report=lambda r, s: reports.append(r)
            )
        )
        assert wait_for(lambda: len(reports) >= 60)
        assert not any(r.verdict is Verdict.LEAK_SUSPECTED for r in reports)
        assert reports[-1].verdict is Verdict.STABLE

    def test_deep_mode_names_the_leaking_line(self, monitors: list[MemoryMonitor]) -> None:
        """In deep mode the report's top allocation site is the leaking file:line."""
        was_tracing = tracemalloc.is_tracing()
        store: list[bytes] = []
        named: list[GrowthReport] = []

        def on_report(report: GrowthReport, sample: MemorySample) -> None:
            _leak_one_mb(store)
            if report.top_sites:
                named.append(report)

        monitor = MemoryMonitor(
            interval_s=0.02,
            analyzer=quick_analyzer(),
            on_report=on_report,
            deep=True,
            deep_every=2,
            profiler=AllocationProfiler(lookback=2, count_types=False),
        )
        monitors.append(monitor)
        assert wait_for(lambda: len(named) >= 3)
        top = named[-1].top_sites[0]
        assert (top.file, top.line) == (_leak_one_mb.__code__.co_filename, LEAK_LINE)
        assert top.size_diff_bytes >= MB
        assert monitor.shutdown(timeout_s=5.0)
        assert tracemalloc.is_tracing() is was_tracing
        store.clear()

    def test_slow_profiles_are_spaced_out_to_cap_their_share_of_time(
        self, monitors: list[MemoryMonitor]
    ) -> None:
        """A 50 ms profile with deep_max_share=0.1 runs at most every 0.5 s, ticks or not."""

        class SlowProfiler(AllocationProfiler):
            def __init__(self) -> None:
                super().__init__(count_types=False)
                self.started_at: list[float] = []

            def start(self) -> None:  # no tracemalloc: only the spacing is under test
                pass

            def stop(self) -> None:
                pass

            def diff(self) -> tuple[tuple[AllocationSite, ...], tuple[TypeGrowth, ...]]:
                self.started_at.append(time.monotonic())
                time.sleep(0.05)
                return (), ()

        profiler = SlowProfiler()
        ticks: list[int] = []
        monitors.append(
            MemoryMonitor(
                interval_s=0.005,
                on_report=lambda r, s: ticks.append(1),
                deep=True,
                deep_every=1,
                deep_max_share=0.1,
                profiler=profiler,
            )
        )
        assert wait_for(lambda: len(profiler.started_at) >= 3, timeout_s=5.0)
        gaps = [b - a for a, b in itertools.pairwise(profiler.started_at)]
        assert min(gaps) >= 0.5 * 0.95
        assert len(ticks) > 4 * len(profiler.started_at)  # sampling went on in between

    def test_eta_counts_virtual_size_against_rlimit_as(self, monitors: list[MemoryMonitor]) -> None:
        """Against RLIMIT_AS the headroom is limit minus virtual size, not minus RSS."""
        limit = MemoryLimit(limit_bytes=2000 * MB, source="rlimit_as")
        sampler = steady_leak(limit=limit, vms_extra=1000 * MB)
        analyzer = GrowthAnalyzer(window_s=600.0, warmup_s=0.0, min_samples=12, max_points=60)
        monitors.append(
            monitor := MemoryMonitor(interval_s=0.001, analyzer=analyzer, sampler=sampler)
        )
        assert wait_for(lambda: (m := monitor.latest) is not None and m[0].eta_s is not None)
        latest = monitor.latest
        assert latest is not None
        report, sample = latest
        assert report.eta_s == pytest.approx((2000 * MB - sample.vms_bytes) / (0.1 * MB), rel=0.05)

    def test_shutdown_is_idempotent_and_bounded(self) -> None:
        """shutdown() stops the thread quickly, and again is a no-op returning True."""
        monitor = MemoryMonitor(interval_s=3600.0)
        started = time.monotonic()
        assert monitor.shutdown(timeout_s=5.0)
        assert monitor.shutdown(timeout_s=5.0)
        assert time.monotonic() - started < 2.0
        assert monitor._thread is not None and not monitor._thread.is_alive()

    def test_shutdown_gives_up_after_timeout_on_a_stuck_sample(self) -> None:
        """A sample that hangs makes shutdown return False after timeout_s, not hang too."""
        release = threading.Event()
        entered = threading.Event()

        def script(tick: int) -> MemorySample:
            entered.set()
            release.wait(10.0)
            return make_sample(timestamp_ns=tick, rss_bytes=MB)

        monitor = MemoryMonitor(interval_s=0.01, sampler=ScriptedSampler(script))
        assert entered.wait(5.0)
        started = time.monotonic()
        assert monitor.shutdown(timeout_s=0.1) is False
        assert time.monotonic() - started < 1.0
        release.set()
        assert monitor.shutdown(timeout_s=5.0)

    def test_raising_callback_does_not_kill_the_thread(
        self, monitors: list[MemoryMonitor], caplog: pytest.LogCaptureFixture
    ) -> None:
        """A callback that always raises is logged; sampling and later callbacks go on."""
        calls: list[int] = []

        def on_report(report: GrowthReport, sample: MemorySample) -> None:
            calls.append(1)
            raise RuntimeError("broken hook")

        with caplog.at_level(logging.ERROR, logger="otelperf"):
            monitors.append(monitor := MemoryMonitor(interval_s=0.005, on_report=on_report))
            assert wait_for(lambda: len(calls) >= 5)
        assert monitor._thread is not None and monitor._thread.is_alive()
        assert any("on_report callback failed" in r.getMessage() for r in caplog.records)

    def test_failing_sample_is_skipped_and_sampling_goes_on(
        self, monitors: list[MemoryMonitor], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Outside the suite's raise mode a failing sample is dropped and the next one taken."""
        monkeypatch.setenv("OTELPERF_RAISE_INTERNAL_ERRORS", "0")
        # A child logger skips the "otelperf" logger's rate-limit filter, whose global state
        # would otherwise hide never_raise's next message from other tests for a minute.
        monkeypatch.setattr(otelperf._safety, "logger", logging.getLogger("otelperf.test"))

        def script(tick: int) -> MemorySample | Exception:
            return (
                OSError("proc is gone")
                if tick <= 3
                else make_sample(timestamp_ns=tick, rss_bytes=MB)
            )

        sampler = ScriptedSampler(script)
        monitors.append(monitor := MemoryMonitor(interval_s=0.005, sampler=sampler))
        assert wait_for(lambda: monitor.latest is not None)
        assert sampler.ticks > 3

    @pytest.mark.parametrize(
        ("kwargs", "name"),
        [
            ({"interval_s": 0.0}, "interval_s"),
            ({"interval_s": float("inf")}, "interval_s"),
            ({"deep_every": 0}, "deep_every"),
            ({"deep_max_share": 0.0}, "deep_max_share"),
            ({"deep_max_share": 1.5}, "deep_max_share"),
        ],
    )
    def test_bad_argument_raises(self, kwargs: dict[str, float], name: str) -> None:
        """interval_s must be finite and positive, deep_every >= 1, deep_max_share in (0, 1]."""
        with pytest.raises(ValueError, match=name):
            MemoryMonitor(**kwargs)  # type: ignore[arg-type]


class TestFork:
    def test_pid_change_without_hooks_restarts_on_first_read(
        self, monitors: list[MemoryMonitor]
    ) -> None:
        """A child whose at-fork hooks did not run restarts, with a clean trend, when read."""
        sampler = steady_leak()
        monitors.append(monitor := MemoryMonitor(interval_s=0.001, sampler=sampler))
        assert wait_for(lambda: (m := monitor.latest) is not None and m[0].samples >= 5)
        old_thread = monitor._thread
        assert old_thread is not None
        # What a hook-less child looks like: the worker is gone and the pid is someone else's.
        monitor._stop.set()
        old_thread.join(5.0)
        monitor._pid = os.getpid() + 1
        ticks_before = sampler.ticks
        first = monitor.latest  # the read notices the new pid and starts afresh
        assert monitor._thread is not old_thread and monitor._thread is not None
        assert monitor._thread.is_alive()
        assert sampler.reinits == 1
        assert first is None or first[0].samples <= 1  # the inherited trend was dropped
        assert wait_for(lambda: sampler.ticks > ticks_before)

    @pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
    def test_forked_child_samples_itself_with_fresh_state(
        self, monitors: list[MemoryMonitor]
    ) -> None:
        """After os.fork the child gets a new thread that samples the child with a fresh trend."""
        analyzer = GrowthAnalyzer(window_s=60.0, warmup_s=0.0, min_samples=12, max_points=6000)
        monitors.append(monitor := MemoryMonitor(interval_s=0.005, analyzer=analyzer))
        assert wait_for(lambda: (m := monitor.latest) is not None and m[0].samples >= 20)
        read_fd, write_fd = os.pipe()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: fork with threads
            pid = os.fork()
        if pid == 0:  # child: report through the pipe, never return into pytest
            code = 1
            try:
                thread = monitor._thread
                fresh = wait_for(
                    lambda: (m := monitor.latest) is not None and m[1].pid == os.getpid(),
                    timeout_s=5.0,
                )
                latest = monitor.latest
                ok = (
                    fresh
                    and latest is not None
                    and latest[0].samples < 20
                    and thread is not None
                    and thread.is_alive()
                    and thread.name == MEMORY_THREAD_NAME
                    and monitor.shutdown(timeout_s=2.0)
                )
                code = 0 if ok else 2
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
        parent = monitor.latest
        assert parent is not None and parent[1].pid == os.getpid()

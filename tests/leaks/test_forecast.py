"""The forecast end to end: a cgroup limit read from files, a steady leak, the monitor's ETA."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from otelperf.leaks import BYTES_PER_MB, GrowthAnalyzer, GrowthReport, MemoryLimit, Verdict
from otelperf.processors.leaks import MemoryMonitor
from otelperf.processors.memory import MemorySample, MemorySampler, read_memory_limit

MB = BYTES_PER_MB
TICK_S = 10.0  # simulated seconds between samples
LEAK_MB_PER_H = 120.0
BASE_MB = 300.0


def cgroup_v2(tmp_path: Path, *, limit_bytes: int) -> MemoryLimit | None:
    """Write a cgroup v2 tree whose leaf has ``memory.max`` and read it the way otelperf does."""
    leaf = tmp_path / "fs" / "kubepods" / "pod1"
    leaf.mkdir(parents=True)
    (tmp_path / "fs" / "kubepods" / "memory.max").write_text("max\n")
    (leaf / "memory.max").write_text(f"{limit_bytes}\n")
    (tmp_path / "cgroup").write_text("0::/kubepods/pod1\n")
    return read_memory_limit(
        cgroup_root=str(tmp_path / "fs"),
        proc_cgroup=str(tmp_path / "cgroup"),
        rlimit_as=lambda: None,
    )


class SteadyLeak(MemorySampler):
    """RSS of a process leaking LEAK_MB_PER_H under a GC sawtooth and noise, one sample a tick."""

    def __init__(self, limit: MemoryLimit | None) -> None:
        super().__init__(uss_every=0, limit_reader=lambda: limit)
        self.rng = random.Random(7)
        self.tick = 0
        self.limit = limit

    def true_rss(self, t_s: float) -> float:
        return (BASE_MB + LEAK_MB_PER_H * t_s / 3600) * MB

    def sample(self) -> MemorySample:
        t_s = self.tick * TICK_S
        self.tick += 1
        sawtooth = 30 * MB * ((t_s / 300) % 1.0)  # the GC frees 30 MB every 5 min
        rss = round(self.true_rss(t_s) + sawtooth + self.rng.gauss(0, MB))
        return MemorySample(
            timestamp_ns=round(t_s * 1e9),
            pid=0,
            rss_bytes=rss,
            vms_bytes=rss + 500 * MB,
            uss_bytes=None,
            heap_blocks=0,
            gc_counts=(0, 0, 0),
            gc_collections=(0, 0, 0),
            gc_collected=0,
            gc_uncollectable=0,
            gc_garbage=0,
            limit=self.limit,
        )


@pytest.fixture
def monitors() -> Iterator[list[MemoryMonitor]]:
    created: list[MemoryMonitor] = []
    yield created
    for monitor in created:
        assert monitor.shutdown(timeout_s=5.0)


class TestForecast:
    def test_eta_to_a_cgroup_limit_is_within_20_percent_for_a_steady_leak(
        self, tmp_path: Path, monitors: list[MemoryMonitor]
    ) -> None:
        """Limit from memory.max, 120 MB/h leak under a sawtooth: ETA within 20 % of the truth."""
        limit = cgroup_v2(tmp_path, limit_bytes=1024 * MB)
        assert limit == MemoryLimit(limit_bytes=1024 * MB, source="cgroup_v2")
        sampler = SteadyLeak(limit)
        reports: list[tuple[GrowthReport, float]] = []
        done_after = 370  # 5 min warm-up + 1 h window, plus some
        monitors.append(
            MemoryMonitor(
                interval_s=0.0005,
                analyzer=GrowthAnalyzer(),  # the defaults: 1 h window, 5 min warm-up, 10 MB/h
                sampler=sampler,
                on_report=lambda r, s: reports.append((r, s.timestamp_ns / 1e9)),
            )
        )
        deadline = time.monotonic() + 20
        while len(reports) < done_after and time.monotonic() < deadline:
            time.sleep(0.01)
        report, now_s = reports[done_after - 1]
        assert report.verdict is Verdict.LEAK_SUSPECTED
        assert report.limit_bytes == 1024 * MB
        true_rate = LEAK_MB_PER_H * MB / 3600
        # The OOM killer acts when the peaks reach the limit: the sawtooth's top is 30 MB up.
        true_eta_s = (1024 * MB - (sampler.true_rss(now_s) + 30 * MB)) / true_rate
        assert report.eta_s == pytest.approx(true_eta_s, rel=0.2)
        assert report.rate_bytes_per_s == pytest.approx(true_rate, rel=0.2)

"""CPU cost of memory sampling and leak analysis, normal and deep mode.

Run: ``.venv/bin/python benchmarks/bench_memory.py``. The parts are timed as CPU time of the calling
thread (``time.thread_time_ns``); the real ``otelperf-memory`` thread is then measured whole, from
the kernel's per-thread CPU counters, on a clock sped up 500x. The share of one core is the cost
of a tick divided by the sampling interval. Deep mode also slows the *application's* allocations
(tracemalloc hooks every allocation in every thread): that ratio is measured on an
allocation-heavy loop, with and without tracing, in the same run.
"""

from __future__ import annotations

import statistics
import threading
import time
import tracemalloc
from collections.abc import Callable

import psutil

from otelperf.alerts.leak_alerts import LeakAlerter
from otelperf.leaks import BYTES_PER_MB, GrowthAnalyzer, GrowthReport
from otelperf.processors.allocations import AllocationProfiler
from otelperf.processors.leaks import MEMORY_THREAD_NAME, MemoryMonitor
from otelperf.processors.memory import MemorySample, MemorySampler

DEFAULT_INTERVAL_S = 10.0  # MemoryMonitor's default interval_s
DEFAULT_DEEP_EVERY = 6  # MemoryMonitor's default deep_every: one profile per minute
TARGET_SHARE = 0.001  # < 0.1 % of one core at the default interval


def cpu_us(fn: Callable[[], object], *, repeat: int) -> float:
    """Median CPU µs per call over 5 rounds of ``repeat`` calls."""
    fn()
    rounds = []
    for _ in range(5):
        start = time.thread_time_ns()
        for _ in range(repeat):
            fn()
        rounds.append((time.thread_time_ns() - start) / repeat / 1e3)
    return statistics.median(rounds)


def analyzer_tick_us() -> tuple[float, float]:
    """(CPU µs per tick amortised over an hour of 10 s ticks, CPU µs of one full recompute)."""
    analyzer = GrowthAnalyzer()  # defaults: 1 h window, 120 points, 5 min warm-up
    interval_ns = int(DEFAULT_INTERVAL_S * 1e9)
    ticks = int(2 * 3600 / DEFAULT_INTERVAL_S)
    for i in range(ticks):  # fill two hours so the window is full
        analyzer.add(timestamp_ns=i * interval_ns, value_bytes=200 * BYTES_PER_MB + i * 1000)
        analyzer.report()
    start = time.thread_time_ns()
    for i in range(ticks, 2 * ticks):
        analyzer.add(timestamp_ns=i * interval_ns, value_bytes=200 * BYTES_PER_MB + i * 1000)
        analyzer.report()
    amortised = (time.thread_time_ns() - start) / ticks / 1e3

    def full() -> None:
        analyzer._trend = None  # benchmark only: force the recompute the cache avoids
        analyzer.report()

    return amortised, cpu_us(full, repeat=20)


def monitor_thread_us(*, speedup: int = 500, measure_s: float = 4.0) -> tuple[float, int]:
    """(CPU µs per tick of a real ``otelperf-memory`` thread, ticks measured).

    The real :class:`MemoryMonitor` thread with the default analyzer and the wiring's alert
    decision, on a clock running ``speedup`` times faster than real time, so that 10 s ticks come
    every 20 ms and the 1 h window is full within seconds. CPU is the thread's own user + system
    time, read from the kernel (psutil), before and after ``measure_s`` seconds.
    """
    interval_s = DEFAULT_INTERVAL_S / speedup
    sampler = MemorySampler(clock=lambda: time.monotonic_ns() * speedup)
    alerter = LeakAlerter()
    ticks: list[int] = []

    def on_report(report: GrowthReport, sample: MemorySample) -> None:
        alerter.observe(report, now_ns=sample.timestamp_ns)
        ticks.append(1)

    monitor = MemoryMonitor(interval_s=interval_s, sampler=sampler, on_report=on_report)
    try:
        time.sleep(3600 * 1.2 / speedup)  # warm-up and one full window
        thread_id = next(t.native_id for t in threading.enumerate() if t.name == MEMORY_THREAD_NAME)

        def cpu_s() -> float:
            found = [t for t in psutil.Process().threads() if t.id == thread_id]
            return float(found[0].user_time + found[0].system_time)

        before_cpu, before_ticks = cpu_s(), len(ticks)
        time.sleep(measure_s)
        spent_s, measured = cpu_s() - before_cpu, len(ticks) - before_ticks
    finally:
        monitor.shutdown()
    return spent_s / measured * 1e6, measured


def deep_costs(live_blocks: int) -> tuple[float, float, float]:
    """(CPU ms per profile, tracemalloc's own memory in MB, allocation slowdown ratio)."""

    def allocate() -> list[str]:
        return [str(i) for i in range(200_000)]

    plain = cpu_us(allocate, repeat=3)
    profiler = AllocationProfiler()
    profiler.start()
    try:
        keep = [bytes(64) + str(i).encode() for i in range(live_blocks)]  # a heap worth profiling
        traced = cpu_us(allocate, repeat=3)
        profile_us = cpu_us(profiler.diff, repeat=2)
        overhead_mb = tracemalloc.get_tracemalloc_memory() / BYTES_PER_MB
        del keep
    finally:
        profiler.stop()
    return profile_us / 1e3, overhead_mb, traced / plain


def main() -> None:
    sampler_plain = MemorySampler(uss_every=0)
    sampler_uss = MemorySampler(uss_every=1)
    sampler_default = MemorySampler()  # USS on every 6th sample
    plain_us = cpu_us(sampler_plain.sample, repeat=200)
    uss_us = cpu_us(sampler_uss.sample, repeat=50)
    default_us = cpu_us(sampler_default.sample, repeat=60)
    amortised_us, recompute_us = analyzer_tick_us()
    tick_us = default_us + amortised_us
    share = tick_us / (DEFAULT_INTERVAL_S * 1e6)

    print(f"interval {DEFAULT_INTERVAL_S:.0f} s (MemoryMonitor default), CPU of the memory thread")
    print(f"  sample, no USS                  {plain_us:8.1f} us")
    print(f"  sample, with USS (smaps)        {uss_us:8.1f} us")
    print(f"  sample, default (USS 1 in 6)    {default_us:8.1f} us")
    print(f"  analyzer full recompute (120 pts) {recompute_us:6.1f} us")
    print(f"  analyzer per tick, amortised    {amortised_us:8.1f} us  (recomputes 1 tick in 3)")
    print(f"  normal tick total               {tick_us:8.1f} us")
    verdict = "OK" if share < TARGET_SHARE else "OVER TARGET"
    print(f"  => {share * 100:.4f} % of one core (target < {TARGET_SHARE * 100:.1f} %): {verdict}")
    thread_us, measured = monitor_thread_us()
    thread_share = thread_us / (DEFAULT_INTERVAL_S * 1e6)
    verdict = "OK" if thread_share < TARGET_SHARE else "OVER TARGET"
    print(
        f"  real otelperf-memory thread, kernel CPU time over {measured} ticks:"
        f" {thread_us:.1f} us/tick => {thread_share * 100:.4f} % of one core: {verdict}"
    )
    print(f"deep mode (profile every {DEFAULT_DEEP_EVERY} ticks = every 60 s)")
    for live in (10_000, 100_000, 300_000):
        profile_ms, overhead_mb, slowdown = deep_costs(live)
        deep_share = (profile_ms * 1e3 / DEFAULT_DEEP_EVERY + tick_us) / (DEFAULT_INTERVAL_S * 1e6)
        print(
            f"  {live:>7} live blocks: profile {profile_ms:7.1f} ms CPU,"
            f" tracemalloc memory {overhead_mb:5.1f} MB, memory thread {deep_share * 100:.3f} %"
            f" of one core, app allocations x{slowdown:.1f} slower"
        )


if __name__ == "__main__":
    main()

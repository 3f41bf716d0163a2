"""Leak detection core: pure growth analysis and memory-limit parsing (no OpenTelemetry, no I/O)."""

from otelperf.leaks.growth import GrowthAnalyzer
from otelperf.leaks.limits import MemoryLimit
from otelperf.leaks.report import BYTES_PER_MB, AllocationSite, GrowthReport, TypeGrowth, Verdict

__all__ = [
    "BYTES_PER_MB",
    "AllocationSite",
    "GrowthAnalyzer",
    "GrowthReport",
    "MemoryLimit",
    "TypeGrowth",
    "Verdict",
]

"""Former home of the memory classes, kept as an alias: import from the modules below instead.

- :mod:`otelperf.processors.memory`: :class:`MemorySampler`, :class:`MemorySample`,
  :func:`read_memory_limit`.
- :mod:`otelperf.processors.allocations`: :class:`AllocationProfiler` (deep mode).
- :mod:`otelperf.processors.leaks`: :class:`MemoryMonitor` (the ``otelperf-memory`` thread).
"""

from otelperf.processors.allocations import AllocationProfiler
from otelperf.processors.leaks import MEMORY_THREAD_NAME, MemoryMonitor, ReportCallback
from otelperf.processors.memory import MemorySample, MemorySampler, read_memory_limit

__all__ = [
    "MEMORY_THREAD_NAME",
    "AllocationProfiler",
    "MemoryMonitor",
    "MemorySample",
    "MemorySampler",
    "ReportCallback",
    "read_memory_limit",
]

"""``otelperf.stats()``: read the live per-operation percentiles."""

from __future__ import annotations

from collections.abc import Mapping
from typing import overload

from otelperf import _configure
from otelperf.aggregates import OperationStats

__all__ = ["stats"]


@overload
def stats() -> Mapping[str, OperationStats]: ...
@overload
def stats(operation: str) -> OperationStats | None: ...
def stats(operation: str | None = None) -> Mapping[str, OperationStats] | OperationStats | None:
    """Return live latency statistics over the sliding window (``window_s``).

    ``stats()`` returns a mapping of every operation seen in the window to its
    :class:`OperationStats`; ``stats(name)`` returns that operation's statistics or None.
    Before ``configure()`` (or with the SDK disabled) the mapping is empty.

    Spans are aggregated by a background thread every 100 ms, so a span that ended a moment
    ago may not be counted yet. Safe to call from any thread; cost grows with the number of
    operations (each merges its sub-windows), not with traffic.
    """
    handle = _configure.current()
    aggregator = None if handle is None else handle.aggregator
    if operation is None:
        return {} if aggregator is None else aggregator.all_stats()
    return None if aggregator is None else aggregator.stats(operation)

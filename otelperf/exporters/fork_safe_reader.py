"""``ForkSafePeriodicReader``: the SDK's periodic metric reader, made safe to fork around.

gunicorn forks its workers from a master in which ``opentelemetry-instrument`` already started
the SDK's metric reader thread. Two of the SDK's locks then reach the worker held:

* The reader's export lock, when the fork happens during an export (which lasts up to the
  exporter's timeout when the collector is slow or down): the worker's reader waits on it
  forever and the worker never exports a metric, otelperf's percentiles included.
* The metric storage locks, when the fork happens while the master *collects* (reads every
  instrument in memory): the worker's first request that records a metric blocks forever on
  ``MetricReaderStorage``'s lock, until gunicorn kills the worker (``WORKER TIMEOUT``).

This reader exports under its own lock, re-created in every child (:mod:`otelperf._fork`), and
holds a second lock, ``_collecting``, only while the SDK collects in memory. An at-fork hook takes
``_collecting`` before ``os.fork()`` (waiting at most ``FORK_WAIT_S`` for a collection in
progress) and gives it back in the parent, so no fork happens in the middle of a collection.
Only the reader's own methods are overridden: ``_receive_metrics`` (the method every
``MetricReader`` implements) and ``collect`` (typed final by the SDK; see the comment there).
"""

from __future__ import annotations

import os
import threading
import weakref
from typing import Any

from opentelemetry.sdk.metrics.export import (
    MetricExporter,
    MetricsData,
    PeriodicExportingMetricReader,
)

from otelperf import _fork
from otelperf._safety import logger, suppressed

__all__ = ["FORK_WAIT_S", "ForkSafePeriodicReader"]

#: Longest a fork waits for a collection in progress (collections read memory: milliseconds,
#: unless a user's observable callback is slow; then the fork goes on without waiting).
FORK_WAIT_S = 2.0

_readers: weakref.WeakSet[ForkSafePeriodicReader] = weakref.WeakSet()
_held_for_fork: list[ForkSafePeriodicReader] = []  # touched only by the forking thread
_hooked = False


class ForkSafePeriodicReader(PeriodicExportingMetricReader):
    """``PeriodicExportingMetricReader`` that no fork can leave with a held lock.

    Same constructor and behaviour as the SDK class; the export never raises.
    """

    def __init__(self, exporter: MetricExporter, **kwargs: Any) -> None:
        """Wrap ``exporter``; ``kwargs`` are the SDK reader's (interval and timeout)."""
        # Before super().__init__: it starts the thread that calls collect().
        self._target = exporter
        self._init_locks()
        super().__init__(exporter, **kwargs)
        _fork.register(self._init_locks)
        _hook(self)

    @property
    def target(self) -> MetricExporter:
        """The exporter this reader exports to."""
        return self._target

    def _init_locks(self) -> None:
        # Also the child's re-init: the parent's export and collection did not come along.
        self._exporting = threading.Lock()  # serialises exports (the SDK's _export_lock's job)
        self._collecting = threading.Lock()  # held while the SDK collects; forks wait for it
        self._local = threading.local()  # whether this thread still holds _collecting

    # The SDK types collect() as final; this override only brackets super().collect() with a
    # lock, the one way to know when a collection starts without the SDK's private callbacks.
    def collect(self, timeout_millis: float = 10_000) -> None:  # type: ignore[misc]
        """Collect and export, with ``_collecting`` held for the in-memory part only."""
        self._collecting.acquire()
        self._local.holds = True
        try:
            super().collect(timeout_millis=timeout_millis)
        finally:
            self._release_collecting()

    def _release_collecting(self) -> None:
        if getattr(self._local, "holds", False):
            self._local.holds = False
            self._collecting.release()

    def _receive_metrics(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> None:
        # The SDK calls this once collection is done: forks may go on during the export.
        self._release_collecting()
        try:
            with suppressed(), self._exporting:
                self._target.export(metrics_data, timeout_millis=timeout_millis)
        except Exception:  # the SDK's reader logs and goes on, so do we
            logger.exception("otelperf: exception while exporting metrics")


def _hook(reader: ForkSafePeriodicReader) -> None:
    global _hooked
    _readers.add(reader)
    if not _hooked and hasattr(os, "register_at_fork"):
        os.register_at_fork(
            before=_before_fork,
            after_in_parent=_after_fork_in_parent,
            after_in_child=_held_for_fork.clear,  # the child re-creates the locks instead
        )
        _hooked = True


def _before_fork() -> None:
    for reader in list(_readers):
        if reader._collecting.acquire(timeout=FORK_WAIT_S):
            _held_for_fork.append(reader)
        else:
            logger.warning("otelperf: forking while metrics are being collected")


def _after_fork_in_parent() -> None:
    while _held_for_fork:
        _held_for_fork.pop()._collecting.release()

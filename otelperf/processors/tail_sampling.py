"""``TailSamplingProcessor``: export the traces worth keeping, decided when they end.

It wraps the exporting processor (``inner``: a ``BatchSpanProcessor``, or a
``SynchronousMultiSpanProcessor`` fanning out to several) and comes after otelperf's
``LatencyProcessor``, which measures every span whatever is exported. With
:class:`~otelperf.processors.sampling.MeasureAllSampler`, the spans the head sampler dropped are
still recorded (``RECORD_ONLY``) and reach this processor:

* A head-sampled span is marked ``otelperf.sampling.reason=head`` in ``on_start`` and handed to
  ``inner`` unbuffered when it ends. Its tracestate keeps the head sampler's ``ot=th``
  threshold, so backends can extrapolate counts from these spans alone.
* Other spans are buffered per local trace (bounds: :mod:`._trace_book`; policy:
  :mod:`._tail_policy`). Kept spans go to ``inner`` as copies (:mod:`._kept_span`) with the
  ``sampled`` flag set, ``otelperf.sampling.reason`` added and any ``th`` erased: they were not
  chosen at random, so they carry no adjusted count and no backend extrapolates from them.

Request thread: field reads, one dict lookup for the budget threshold and a short lock hold per
span; O(1) decisions; copies only for kept spans, made after the lock is released. Measured
(``benchmarks/bench_tail_sampling.py``, callgrind): +13 % instructions per span for 5-span traces
at 1 % head sampling, +27 % for single-span traces. The ``otelperf-tail-sampling`` thread decides
traces whose root has not ended within ``wait_s`` and reads the live p99 of root operations from
the aggregator once per wake (never per span).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from opentelemetry.context import Context
from opentelemetry.metrics import CallbackOptions, Meter, Observation
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.trace import SpanKind, StatusCode, TraceFlags

from otelperf import _fork
from otelperf._safety import logger, never_raise, raise_internal_errors
from otelperf.processors._kept_span import REASON_ATTRIBUTE, kept_copy
from otelperf.processors._tail_policy import BUDGET, ERROR, SLOW, check_limits
from otelperf.processors._trace_book import TraceBook, Verdict

if TYPE_CHECKING:
    from otelperf.aggregates import KeyedWindows
    from otelperf.processors.aggregator import Aggregator

__all__ = ["DECISIONS_METRIC", "REASON_ATTRIBUTE", "TailSamplingProcessor"]

DECISIONS_METRIC = "otelperf.sampling.decisions"
_MIN_P99_SAMPLES = 100  # below this a window's p99 is about its maximum: no outlier policy
_MAX_OPERATIONS = 4096  # root operations whose p99 is followed; budget thresholds cached
_NS_PER_MS = 1_000_000
_NO_LIMIT_NS = 2**63
_KIND_NAMES = {kind: kind.name.lower() for kind in SpanKind}
_ERROR = StatusCode.ERROR
_SAMPLED = TraceFlags.SAMPLED


class TailSamplingProcessor(SpanProcessor):
    """Keep errors, slow, over-budget and outlier traces, head-sampled ones and a floor.

    Thread-safe: any method may be called from any thread. ``on_start``/``on_end`` never raise
    and never block beyond a short lock hold; ``inner`` is always called after the lock is
    released. Fork-safe: a child starts with an empty buffer and its own thread.
    """

    def __init__(
        self,
        inner: SpanProcessor,
        *,
        aggregator: Aggregator | None = None,
        threshold_ms: Callable[[str, str], float | None] | None = None,
        slow_ms: float | None = None,
        max_traces: int = 10_000,
        max_spans_per_trace: int = 1_000,
        max_spans: int = 20_000,
        wait_s: float = 30.0,
        floor_interval_s: float | None = 60.0,
        meter: Meter | None = None,
        clock: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        """Wrap ``inner`` and start the ``otelperf-tail-sampling`` thread.

        Args:
            inner: Receives the kept spans (``on_end``), ``shutdown`` and ``force_flush``.
            aggregator: Source of each root operation's live p99 (``outlier``), and where drops
                are counted (``otelperf.dropped``); None disables both.
            threshold_ms: ``threshold_ms(operation, kind)``, a span's budget limit in ms or None
                (see ``budget_threshold_ms``); None disables the ``budget`` reason.
            slow_ms: Spans lasting this long or longer keep their trace; None disables.
            max_traces: Traces buffered at once; when full the oldest is decided early.
            max_spans_per_trace: Spans buffered per trace (local roots always are); more
                are dropped and counted.
            max_spans: Spans buffered in all; when exceeded the oldest trace is decided early.
                A buffered span holds about 3 KB (the SDK span itself, kept alive): the
                default bounds the buffer near 60 MB.
            wait_s: A trace whose local root has not ended after this long is decided.
            floor_interval_s: Keep at least one trace per root operation per interval; None or
                0 disables.
            meter: Where ``otelperf.sampling.decisions`` is registered; None registers nothing.
            clock: Monotonic nanosecond clock.

        Raises:
            ValueError: A bound is below 1, or a duration is negative or not finite.
        """
        check_limits(
            {
                "max_traces": max_traces,
                "max_spans_per_trace": max_spans_per_trace,
                "max_spans": max_spans,
            },
            {"wait_s": wait_s, "slow_ms": slow_ms, "floor_interval_s": floor_interval_s},
        )
        self._inner = inner
        self._aggregator = aggregator
        self._threshold_ms = threshold_ms
        self._slow_ns = _NO_LIMIT_NS if slow_ms is None else round(slow_ms * _NS_PER_MS)
        self._times_spans = slow_ms is not None or threshold_ms is not None
        self._book_args = {
            "max_traces": max_traces,
            "max_spans_per_trace": max_spans_per_trace,
            "max_spans": max_spans,
            "wait_ns": round(wait_s * 1e9),
            "floor_interval_ns": round(floor_interval_s * 1e9) if floor_interval_s else None,
            "max_operations": _MAX_OPERATIONS,
        }
        # Operation keys must be the aggregator's (name + key attributes when it has some).
        self._keyed = aggregator if aggregator is not None and aggregator.keyed else None
        self._clock = clock
        # The thread wakes often enough to decide a stuck trace within 10 % of the wait.
        self._interval_s = min(1.0, max(0.01, wait_s / 10))
        # Budget limit per (operation, kind), in ns: read on the request thread without a lock
        # (a dict get/set is atomic under the GIL; a lost race only recomputes one entry).
        self._limits_ns: dict[tuple[str, str], int] = {}
        self._closed = False
        self._init_state()
        _fork.register(self._reinit)
        if meter is not None:
            self.register_metrics(meter)

    def _init_state(self) -> None:
        self._lock = threading.Lock()  # guards self._book
        self._book: TraceBook[ReadableSpan] = TraceBook(
            name_of=_name_of,
            **self._book_args,  # type: ignore[arg-type]
        )
        self._reported: dict[str, int] = {}  # drops already passed to the aggregator
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="otelperf-tail-sampling", daemon=True
        )
        self._thread.start()

    def _reinit(self) -> None:
        # In a forked child: the parent's thread is gone and its lock may be held. The buffered
        # spans belong to the parent's traces, which the parent decides and exports.
        self._init_state()

    # -- request thread ---------------------------------------------------------------------

    # on_start/on_end catch inline rather than through @never_raise: one Python frame less on
    # every span of the application (each costs about 1 % of a bare SDK span).

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        """Mark head-sampled spans; open the buffer of a local root that was not sampled."""
        try:
            context = span.context
            if context.trace_flags & _SAMPLED:  # one property read less than .sampled
                # Attributes can still be set now; after the end the span is read-only.
                span.set_attribute(REASON_ATTRIBUTE, "head")
                return
            parent = span.parent
            if parent is not None and not parent.is_remote:
                return
            with self._lock:
                verdicts = self._book.root_started(context.trace_id, self._clock())
            if verdicts:
                self._emit(verdicts)
        except Exception:  # the application's span must start whatever happens here
            if raise_internal_errors():
                raise
            logger.exception("otelperf internal error in TailSamplingProcessor.on_start")

    def on_end(self, span: ReadableSpan) -> None:
        """Forward a head-sampled span; buffer any other until its trace is decided."""
        try:
            context = span.context
            parent = span.parent
            if context.trace_flags & _SAMPLED:
                self._inner.on_end(span)
                if parent is None or parent.is_remote:
                    operation = self._operation(span)
                    with self._lock:
                        self._book.head_kept(operation, self._clock())
                return
            flags = ERROR if span.status.status_code is _ERROR else 0
            is_root = parent is None or parent.is_remote
            duration_ns = 0
            if self._times_spans or is_root:  # children's times matter only to slow/budget
                duration_ns = (span.end_time or 0) - (span.start_time or 0)
                if duration_ns >= self._slow_ns:
                    flags |= SLOW
                if self._threshold_ms is not None and duration_ns > self._limit_ns(span):
                    flags |= BUDGET
            root = None
            if is_root:
                keyed = self._keyed
                operation = span.name if keyed is None else keyed.operation_key(span)
                root = (operation, duration_ns)
            with self._lock:
                reason, verdicts = self._book.span_ended(
                    context.trace_id,
                    span,
                    flags,
                    root,
                    self._clock(),
                )
            if reason is not None:
                self._inner.on_end(kept_copy(span, reason))
            if verdicts:
                self._emit(verdicts)
        except Exception:  # the application's span must end whatever happens here
            if raise_internal_errors():
                raise
            logger.exception("otelperf internal error in TailSamplingProcessor.on_end")

    def _emit(self, kept: Iterable[Verdict[ReadableSpan]]) -> None:
        # Called without the lock: inner may block briefly (a full queue, a fan-out).
        for verdict in kept:
            reason = verdict.reason
            for span in verdict.spans:
                self._inner.on_end(kept_copy(span, reason))

    def _operation(self, span: ReadableSpan) -> str:
        return span.name if self._keyed is None else self._keyed.operation_key(span)

    def _limit_ns(self, span: ReadableSpan) -> int:
        key = (self._operation(span), _KIND_NAMES[span.kind])
        limit_ns = self._limits_ns.get(key)
        if limit_ns is None:
            threshold_ms = self._threshold_ms(*key) if self._threshold_ms else None
            limit_ns = _NO_LIMIT_NS if threshold_ms is None else round(threshold_ms * _NS_PER_MS)
            if len(self._limits_ns) >= _MAX_OPERATIONS:
                self._limits_ns.clear()  # unbounded span names: forget rather than grow
            self._limits_ns[key] = limit_ns
        return limit_ns

    # -- otelperf-tail-sampling thread ------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._interval_s)
            if self._stop.is_set():
                break
            self.tick()

    @never_raise
    def tick(self) -> None:
        """Decide traces that waited too long, refresh the p99 cache, report drops.

        Runs on the ``otelperf-tail-sampling`` thread every ``min(1 s, wait_s / 10)``; tests
        may call it directly.
        """
        with self._lock:
            verdicts = self._book.expire(self._clock())
            operations = tuple(self._book.operations)
        self._emit(verdicts)
        aggregator = self._aggregator
        if aggregator is None:
            return
        if operations:
            p99_ns = aggregator.with_store(lambda now, store: _read_p99(now, store, operations))
            with self._lock:
                self._book.p99_ns = p99_ns
        self._report_drops(aggregator)

    def _report_drops(self, aggregator: Aggregator) -> None:
        with self._lock:
            dropped = dict(self._book.dropped_spans)
        for reason, count in dropped.items():
            new = count - self._reported.get(reason, 0)
            if new > 0:
                aggregator.count_drop(f"tail_{reason}", new)
                self._reported[reason] = count

    # -- reporting and lifecycle ------------------------------------------------------------

    def decisions(self) -> dict[tuple[str, bool], int]:
        """Decided local traces by (reason or drop cause, kept), since start."""
        with self._lock:
            return dict(self._book.decisions)

    def dropped_spans(self) -> dict[str, int]:
        """Spans not exported: over ``max_spans_per_trace``, or ``late`` for a dropped trace."""
        with self._lock:
            return dict(self._book.dropped_spans)

    def buffered(self) -> tuple[int, int]:
        """``(traces, spans)`` waiting for a decision now."""
        with self._lock:
            return self._book.buffered_traces, self._book.buffered_spans

    def register_metrics(self, meter: Meter) -> None:
        """Register ``otelperf.sampling.decisions{reason,kept}``, read at collection time."""

        def observe(options: CallbackOptions) -> list[Observation]:
            return [
                Observation(count, {"reason": label, "kept": kept})
                for (label, kept), count in sorted(self.decisions().items())
            ]

        meter.create_observable_counter(
            DECISIONS_METRIC,
            callbacks=[observe],
            unit="{trace}",
            description="Local traces the tail sampler decided, by reason (or drop cause).",
        )

    @never_raise
    def shutdown(self) -> None:
        """Decide every buffered trace, stop the thread, shut ``inner`` down; idempotent."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        self._wake.set()
        if self._thread is not threading.current_thread():
            self._thread.join(1.0)
        with self._lock:
            verdicts = self._book.close(self._clock())
        self._emit(verdicts)
        if self._aggregator is not None:
            self._report_drops(self._aggregator)
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Flush ``inner`` (undecided traces stay buffered: their roots have not ended)."""
        return self._inner.force_flush(timeout_millis)


def _name_of(span: ReadableSpan) -> str:
    return span.name


def _read_p99(now_ns: int, store: KeyedWindows, operations: Iterable[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for operation in operations:
        stats = store.stats(operation, now_ns)
        if stats is not None and stats.count >= _MIN_P99_SAMPLES:
            found[operation] = round(stats.p99_ms * _NS_PER_MS)
    return found

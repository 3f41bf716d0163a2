"""Where recordings get their spans: one router processor on the global SDK TracerProvider.

OpenTelemetry's global ``TracerProvider`` can be set once per process (resetting it needs the
API's private attributes), so each test cannot get a fresh global one. Instead, the first
recording makes sure the global provider is an SDK one carrying our ``_Router`` processor:

* An SDK ``TracerProvider`` is already installed (``otelperf.configure()`` ran at import, the
  ``opentelemetry-instrument`` configurator, or the application's own): the router is added to it
  once, through the public ``add_span_processor``.
* None is installed: a ``SessionTracerProvider`` (AlwaysOn sampler, no exporter) becomes the
  global provider, for the rest of the process; the router is its only SDK-level processor.

The router hands each ended span to the recordings active at that moment. A :func:`scope`
isolates one test:

* span processors added to the session provider while it is open (``otelperf.configure()``
  attaching its ``LatencyProcessor`` during the test) are removed and shut down when it closes;
* an ``otelperf.configure()`` handle created while it is open is shut down and forgotten when it
  closes, so the next test can configure otelperf again.

Processors added to a provider we did not create cannot be removed (the SDK has no API for it):
a ``configure()`` during a test then leaves a stopped ``LatencyProcessor`` behind, which only
counts its drops.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

from opentelemetry import context as context_api
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_ON

from otelperf import _configure, _fork

__all__ = ["SessionTracerProvider", "Sink", "install", "scope"]

HANDLE_SHUTDOWN_TIMEOUT_S = 5.0
"""Bound on shutting down an ``otelperf.configure()`` handle a test created."""


class Sink(Protocol):
    """Something that receives ended spans (a recording)."""

    def receive(self, span: ReadableSpan) -> None:
        """Take one ended span; called on the thread that ended it, must not block or raise."""


class _Router(SpanProcessor):
    """Forward ended spans to the active sinks, and every event to the scoped processors.

    Both lists are tuples replaced under ``_lock`` (copy-on-write, as the SDK's own
    multi-processor): the span path reads them without locking.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()  # guards replacing _sinks and _processors
        self._sinks: tuple[Sink, ...] = ()
        self._processors: tuple[SpanProcessor, ...] = ()
        _fork.register(self._reinit)

    def _reinit(self) -> None:
        # In a forked child: the parent's lock may be held by a thread that is gone, and the
        # parent's recordings cannot see the child's spans anyway.
        self._lock = threading.Lock()
        self._sinks = ()

    def add_sink(self, sink: Sink) -> None:
        with self._lock:
            self._sinks += (sink,)

    def remove_sink(self, sink: Sink) -> None:
        with self._lock:
            self._sinks = tuple(other for other in self._sinks if other is not sink)

    def add_processor(self, processor: SpanProcessor) -> None:
        with self._lock:
            self._processors += (processor,)

    def mark(self) -> int:
        """Return how many processors there are now (the start of a scope)."""
        return len(self._processors)

    def cut(self, mark: int) -> tuple[SpanProcessor, ...]:
        """Remove and return the processors added after ``mark``."""
        with self._lock:
            removed, self._processors = self._processors[mark:], self._processors[:mark]
        return removed

    def on_start(self, span: Span, parent_context: context_api.Context | None = None) -> None:
        # SpanProcessor._on_ending is private SDK API: scoped processors do not get it.
        for processor in self._processors:
            processor.on_start(span, parent_context=parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        for sink in self._sinks:
            sink.receive(span)
        for processor in self._processors:
            processor.on_end(span)

    def shutdown(self) -> None:
        for processor in self.cut(0):
            processor.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return all(processor.force_flush(timeout_millis) for processor in self._processors)


class SessionTracerProvider(TracerProvider):
    """The global provider installed when none was: records every span, exports nothing.

    Span processors added to it go through the router, so that a test's processors can be
    removed at the end of the test (see the module docstring).
    """

    def __init__(self, router: _Router) -> None:
        """Sample everything (a test wants all its spans) and route through ``router``."""
        super().__init__(sampler=ALWAYS_ON, shutdown_on_exit=False)
        super().add_span_processor(router)
        self._router = router

    def add_span_processor(self, span_processor: SpanProcessor) -> None:
        """Add ``span_processor`` until the end of the current test (for good outside tests)."""
        self._router.add_processor(span_processor)


_lock = threading.Lock()  # guards the three globals below: recordings may start in threads
_router: _Router | None = None
_provider: SessionTracerProvider | None = None
_attached: weakref.WeakSet[TracerProvider] = weakref.WeakSet()


def install() -> _Router:
    """Make sure the global TracerProvider feeds our router; return the router.

    Raises:
        RuntimeError: The global provider is set, but not to an SDK ``TracerProvider`` (e.g. a
            no-op one): its spans cannot be seen.
    """
    global _router, _provider
    with _lock:
        router = _router = _router or _Router()
        current = trace.get_tracer_provider()
        if isinstance(current, trace.ProxyTracerProvider):  # nothing installed yet
            _provider = _provider or SessionTracerProvider(router)
            trace.set_tracer_provider(_provider)
            current = trace.get_tracer_provider()  # someone else may have won the race
        if not isinstance(current, TracerProvider):
            raise RuntimeError(
                f"otelperf.testing: the global TracerProvider is a {type(current).__qualname__}, "
                "not the OpenTelemetry SDK's TracerProvider, so its spans cannot be recorded; "
                "install an SDK TracerProvider (or call otelperf.configure()) first"
            )
        if current is not _provider and current not in _attached:
            current.add_span_processor(router)
            _attached.add(current)
        return router


@contextmanager
def scope(sink: Sink) -> Iterator[None]:
    """Feed ``sink`` the spans that end inside the block; undo what the block installed.

    Raises:
        RuntimeError: See :func:`install`.
    """
    router = install()
    handle_before = _configure.current()
    mark = router.mark()
    router.add_sink(sink)
    try:
        yield
    finally:
        router.remove_sink(sink)
        removed = router.cut(mark)
        handle = _configure.current()
        if handle is not None and handle is not handle_before:
            _forget(handle)
        for processor in removed:
            processor.shutdown()


def _forget(handle: _configure.Handle) -> None:
    """Shut down a handle made by ``otelperf.configure()`` inside a scope, and forget it."""
    handle.shutdown(timeout_s=HANDLE_SHUTDOWN_TIMEOUT_S)
    # configure() keeps its handle so a second call returns it; forgetting it lets the next
    # test configure otelperf afresh.
    _configure.forget(handle)

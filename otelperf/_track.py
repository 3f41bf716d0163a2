"""``otelperf.track(name)``: time a block or a function as a span named ``name``."""

from __future__ import annotations

import contextvars
import functools
import inspect
from collections.abc import Callable
from contextlib import ExitStack
from types import TracebackType
from typing import Any, TypeVar, cast

from opentelemetry import trace

__all__ = ["track"]

F = TypeVar("F", bound=Callable[..., Any])

_TRACER_NAME = "otelperf"


class track:
    """A span named ``name`` around a block, a function or a coroutine function.

    The span goes through the global tracer provider, so otelperf measures it like any other
    operation (``otelperf.stats(name)``) and it is exported when sampled. An exception leaving
    the block is recorded on the span (error status) and re-raised unchanged.

    Usage::

        with otelperf.track("checkout.total"):
            ...

        @otelperf.track("reports.build")
        async def build() -> Report: ...
    """

    def __init__(self, name: str) -> None:
        """Name the span.

        Raises:
            ValueError: ``name`` is empty.
        """
        if not isinstance(name, str) or not name:
            raise ValueError(f"track(name): expected a non-empty string, got {name!r}")
        self.name = name
        # One instance may be entered from several threads or tasks at once (a module-level
        # ``T = track("x")``): each context keeps its own stack of open spans.
        self._open: contextvars.ContextVar[tuple[ExitStack, ...]] = contextvars.ContextVar(
            f"otelperf.track:{name}", default=()
        )

    def __enter__(self) -> trace.Span:
        """Start the span and make it current."""
        stack = ExitStack()
        span = stack.enter_context(trace.get_tracer(_TRACER_NAME).start_as_current_span(self.name))
        self._open.set((*self._open.get(), stack))
        return span

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """End the span (recording an exception, which still propagates)."""
        *rest, stack = self._open.get()
        self._open.set(tuple(rest))
        stack.__exit__(exc_type, exc, tb)

    def __call__(self, fn: F) -> F:
        """Decorate ``fn`` (sync or async): each call runs inside a new span."""
        name = self.name
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                with track(name):
                    return await fn(*args, **kwargs)

            return cast(F, run_async)

        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            with track(name):
                return fn(*args, **kwargs)

        return cast(F, run)

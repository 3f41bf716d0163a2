"""Record the spans an application produces through the *global* TracerProvider.

``capture_spans()`` gives a test its own provider; the code under test usually calls
``trace.get_tracer(...)`` (directly or through auto-instrumentation) and reaches the global one.
``record_spans()`` records those, whether or not the application calls ``otelperf.configure()``,
and undoes what the block installed (see ``otelperf/testing/_session.py``)::

    from otelperf.testing import record_spans

    def test_users_stay_fast(client) -> None:
        with record_spans() as recording:
            for _ in range(40):
                client.get("/users")
        recording.assert_budget("GET /users p95<200ms")

The pytest plugin's ``otelperf_spans`` fixture is this recording, opened for one test.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan

from otelperf.budgets import Budget
from otelperf.testing import _session
from otelperf.testing._results import BudgetCheck
from otelperf.testing.budgets import judge_all, passed_or_raise, sample_of

__all__ = ["DEFAULT_MAX_SPANS", "SpanRecording", "record_spans"]

DEFAULT_MAX_SPANS = 100_000
"""Spans one recording keeps; later ones are counted in ``dropped`` and not kept."""

_HINT = (
    "; is the code under test instrumented, and does it get its tracer from the global "
    "TracerProvider (trace.get_tracer) in this process? Spans of other processes (a server "
    "started in a subprocess) are not seen"
)


class SpanRecording:
    """The spans that ended on the global TracerProvider while a recording was open.

    Thread-safe: spans arrive on whichever thread ends them (server threads included).
    """

    def __init__(self, *, max_spans: int = DEFAULT_MAX_SPANS) -> None:
        """Keep at most ``max_spans`` spans (memory stays bounded in long load tests)."""
        self._max_spans = max_spans
        self._arrived = threading.Condition()  # guards _spans and _dropped; notified per span
        self._spans: list[ReadableSpan] = []
        self._dropped = 0

    def __repr__(self) -> str:
        """Say how many spans were kept (pytest shows fixture values in tracebacks)."""
        with self._arrived:
            kept, dropped = len(self._spans), self._dropped
        return f"<SpanRecording {kept} spans{f', {dropped} dropped' if dropped else ''}>"

    def receive(self, span: ReadableSpan) -> None:
        """Keep one ended span (called by the router on the thread that ended it)."""
        with self._arrived:
            if len(self._spans) < self._max_spans:
                self._spans.append(span)
            else:
                self._dropped += 1
            self._arrived.notify_all()

    @property
    def spans(self) -> tuple[ReadableSpan, ...]:
        """The spans kept so far, in the order they ended."""
        with self._arrived:
            return tuple(self._spans)

    @property
    def dropped(self) -> int:
        """Spans not kept because ``max_spans`` was reached."""
        with self._arrived:
            return self._dropped

    @property
    def tracer(self) -> trace.Tracer:
        """A tracer of the global provider, for spans the test itself makes."""
        return trace.get_tracer("otelperf.testing")

    def names(self) -> list[str]:
        """The names of the spans kept so far, in the order they ended."""
        return [span.name for span in self.spans]

    def clear(self) -> None:
        """Forget the spans so far (e.g. after a warm-up) and the dropped count."""
        with self._arrived:
            self._spans.clear()
            self._dropped = 0

    def matching(self, selector: str) -> list[ReadableSpan]:
        """The spans a budget selector picks (``GET /users*``, ``kind=server``, ``attr.K=V``).

        Raises:
            ConfigError: The selector is invalid.
        """
        return self._matching(_selector(selector))

    def _matching(self, probe: Budget) -> list[ReadableSpan]:
        found = []
        for span in self.spans:
            sample = sample_of(span)
            if sample is not None and probe.matches(sample.name, sample.kind, sample.attributes):
                found.append(span)
        return found

    def wait_for(
        self, count: int = 1, *, selector: str = "*", timeout_s: float = 5.0
    ) -> list[ReadableSpan]:
        """Wait until ``count`` spans matching ``selector`` have ended; return them.

        Useful when spans end on a server thread just after the client got its response.

        Raises:
            TimeoutError: Fewer spans matched after ``timeout_s`` (the message says how many).
            ConfigError: The selector is invalid.
        """
        probe = _selector(selector)
        deadline = time.monotonic() + timeout_s
        while True:
            found = self._matching(probe)
            left = deadline - time.monotonic()
            if len(found) >= count or left <= 0:
                break
            with self._arrived:
                self._arrived.wait(min(left, 0.05))
        if len(found) < count:
            raise TimeoutError(
                f"wait_for({count}, selector={selector!r}): {len(found)} matching spans ended "
                f"within {timeout_s:g} s; seen: {sorted(set(self.names()))!r}"
            )
        return found

    def check_budget(self, *budgets: object) -> list[BudgetCheck]:
        """Judge budgets over the spans so far, without raising on a breach.

        Raises:
            ConfigError: A budget does not parse.
        """
        __tracebackhide__ = True
        return self._judge(budgets, origin="check_budget")

    def assert_budget(self, *budgets: object, wait_s: float = 1.0) -> list[BudgetCheck]:
        """Fail unless every budget holds over the spans so far; return the passing checks.

        Args:
            *budgets: Budget strings (``"GET /users p95<200ms"``; ``;``-separated, preset names
                allowed), ``Budget`` objects, or iterables of them.
            wait_s: When a budget matched no span or too few, wait up to this long for more to
                end (spans of a server thread may end just after the response) before failing.
                Passing and over-budget verdicts never wait.

        Raises:
            BudgetFailed: A budget broke, could not be judged or matched nothing; the message
                gives the percentiles, the span counts and the slowest spans.
            ConfigError: A budget does not parse.
        """
        __tracebackhide__ = True  # pytest: show the test's line, not this frame
        deadline = time.monotonic() + wait_s
        while True:
            checks = self._judge(budgets, origin="assert_budget")
            left = deadline - time.monotonic()
            if left <= 0 or not _short_of_spans(checks):
                return passed_or_raise(checks)
            with self._arrived:
                self._arrived.wait(min(left, 0.05))

    def _judge(self, budgets: tuple[object, ...], *, origin: str) -> list[BudgetCheck]:
        __tracebackhide__ = True
        with self._arrived:
            spans, dropped = tuple(self._spans), self._dropped
        checks = judge_all(budgets, spans, origin=origin, hint=_HINT)
        if not dropped:
            return checks
        note = (
            f"\n  note: judged on the first {len(spans)} spans; {dropped} later ones were not kept"
        )
        return [replace(check, message=check.message + note) for check in checks]


def _short_of_spans(checks: Iterable[BudgetCheck]) -> bool:
    return any(check.outcome in ("no_match", "insufficient_data") for check in checks)


def _selector(selector: str) -> Budget:
    # A budget with this selector, used only for its matcher and its selector checks.
    return Budget(selector=selector, statistic="max", threshold=1.0)


@contextmanager
def record_spans(*, max_spans: int = DEFAULT_MAX_SPANS) -> Iterator[SpanRecording]:
    """Record the spans that end on the global TracerProvider inside the block.

    Installs an SDK ``TracerProvider`` as the global one if none is (once per process), or adds
    one processor to the installed one. At the end, processors added to that session provider and
    any ``otelperf.configure()`` handle created inside the block are shut down and forgotten.

    Args:
        max_spans: Spans kept at most; later ones are only counted (``recording.dropped``).

    Raises:
        RuntimeError: The global provider is not an SDK ``TracerProvider`` (e.g. a no-op one).
    """
    recording = SpanRecording(max_spans=max_spans)
    with _session.scope(recording):
        yield recording

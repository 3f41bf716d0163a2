"""Test helpers for code that uses otelperf or OpenTelemetry, and the pytest plugin's API.

* :func:`capture_spans`: a fresh, private ``TracerProvider`` whose spans are kept in memory.
* :func:`record_spans`: the spans that reach the *global* provider (the application's own
  instrumentation), isolated per block; the pytest fixture ``otelperf_spans`` is one per test.
* :func:`assert_budget` / :func:`check_budget`: judge budgets such as
  ``"GET /users p95<200ms"`` over spans, with exact percentiles and a readable failure message.
* :class:`FakeClock`: a settable clock for code that takes ``clock: Callable[[], int]``.

The pytest plugin (``otelperf.testing.plugin``) adds the fixtures ``otelperf_spans`` and
``assert_budget`` and the marker ``@pytest.mark.otelperf_budget(...)``.
"""

from otelperf.testing._results import BudgetCheck, OperationResult, SpanSample
from otelperf.testing.budgets import BudgetFailed, assert_budget, check_budget
from otelperf.testing.capture import CapturedSpans, capture_spans
from otelperf.testing.clock import FakeClock
from otelperf.testing.recording import SpanRecording, record_spans

__all__ = [
    "BudgetCheck",
    "BudgetFailed",
    "CapturedSpans",
    "FakeClock",
    "OperationResult",
    "SpanRecording",
    "SpanSample",
    "assert_budget",
    "capture_spans",
    "check_budget",
    "record_spans",
]

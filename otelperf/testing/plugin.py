"""The otelperf pytest plugin: record a test's spans and hold it to performance budgets.

Loaded by the ``pytest11`` entry point once otelperf is installed, or with
``-p otelperf.testing.plugin``. It changes nothing for tests that use none of its names.

Fixtures:

* ``otelperf_spans``: a :class:`~otelperf.testing.SpanRecording` of the spans that end on the
  global TracerProvider during the test (whether or not the application calls
  ``otelperf.configure()``; what the test installs is undone after it).
* ``assert_budget``: ``assert_budget("GET /users p95<200ms")`` judges those spans and fails the
  test with the percentiles, the span count and the slowest spans when the budget breaks.

Marker: ``@pytest.mark.otelperf_budget("GET /users p95<200ms", ...)`` judges the spans that
the test function itself produced (not its fixtures' setup) once it has passed, and fails it on a
breach. On a class or module it applies to every test in it. A budget that does not parse is
reported as an error in the test's setup.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator

import pytest

from otelperf._errors import ConfigError
from otelperf.budgets import Budget
from otelperf.testing._results import BudgetCheck
from otelperf.testing.budgets import BudgetFailed, coerce
from otelperf.testing.recording import SpanRecording, record_spans

__all__ = ["assert_budget", "otelperf_spans"]

MARKER = "otelperf_budget"
_PENDING = pytest.StashKey[tuple[tuple[Budget, ...], SpanRecording]]()


def pytest_configure(config: pytest.Config) -> None:
    """Declare the marker (so ``--strict-markers`` accepts it)."""
    config.addinivalue_line(
        "markers",
        f"{MARKER}(*budgets): fail the test when the spans its body produced break these "
        "otelperf budgets, e.g. 'GET /users p95<200ms'",
    )


@pytest.fixture
def otelperf_spans() -> Iterator[SpanRecording]:
    """Record the spans that end on the global TracerProvider during this test."""
    with record_spans() as recording:
        yield recording


@pytest.fixture
def assert_budget(otelperf_spans: SpanRecording) -> Callable[..., list[BudgetCheck]]:
    """``assert_budget("GET /users p95<200ms", ...)`` over the spans of this test.

    See :meth:`otelperf.testing.SpanRecording.assert_budget` (``wait_s`` included).
    """
    return otelperf_spans.assert_budget


@pytest.fixture(autouse=True)
def _otelperf_budget_marker(request: pytest.FixtureRequest) -> None:
    """For a test marked ``otelperf_budget``: parse its budgets and start recording."""
    marks = list(request.node.iter_markers(MARKER))
    if not marks:
        return
    origin = f"@pytest.mark.{MARKER}"
    if any(mark.kwargs for mark in marks):
        pytest.fail(f"{origin}: expected budget strings only, got keywords", pytrace=False)
    try:
        budgets = coerce([arg for mark in marks for arg in mark.args], origin=origin)
    except ConfigError as error:
        problem = str(error)
    else:
        recording: SpanRecording = request.getfixturevalue("otelperf_spans")
        request.node.stash[_PENDING] = (budgets, recording)
        return
    pytest.fail(problem, pytrace=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    """Judge a marked test's budgets over the spans of its body, once the body has passed."""
    pending = item.stash.get(_PENDING, None)
    if pending is None:
        return (yield)
    budgets, recording = pending
    recording.clear()  # spans of the fixtures' setup (app start, warm-up) do not count
    result = yield  # raises if the test body failed: its own failure is reported then
    try:
        recording.assert_budget(budgets)
    except BudgetFailed as failure:
        message = str(failure)
    else:
        return result
    pytest.fail(message, pytrace=False)  # outside `except`: no "during handling" chain

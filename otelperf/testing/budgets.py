"""Assert performance budgets in tests: ``check_budget`` and ``assert_budget`` over OTel spans.

Budgets use the string form of ``OTELPERF_BUDGETS`` (``"GET /users p95<200ms"``,
``"kind=server error_rate<1% min 50"``, ``"POST /orders 99%<400ms"``), preset names, or
``Budget`` objects. Each is judged over the spans given, with exact percentiles and the same
selectors and severity ratios as in production; see ``otelperf/testing/_judge.py`` for the rules.

Usage with any span source (the pytest fixtures wrap this)::

    with capture_spans() as captured:
        run_the_code(captured.tracer)
    assert_budget("checkout p95<50ms min 10", spans=captured.spans)
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

from otelperf._errors import ConfigError
from otelperf.budgets import Budget, coerce_budgets
from otelperf.testing._judge import judge
from otelperf.testing._results import BudgetCheck, SpanSample

__all__ = [
    "BudgetFailed",
    "assert_budget",
    "check_budget",
    "coerce",
    "judge_all",
    "passed_or_raise",
    "sample_of",
]

_NS_PER_MS = 1e6


class BudgetFailed(AssertionError):
    """A budget broke, could not be judged (too few spans), or matched no span.

    Attributes:
        checks: The checks that did not pass; ``str(error)`` joins their messages.
    """

    def __init__(self, checks: Sequence[BudgetCheck]) -> None:
        """Keep the failed checks; the message is theirs, one paragraph each."""
        super().__init__("\n\n".join(check.message for check in checks))
        self.checks = tuple(checks)


def coerce(budgets: Sequence[object], *, origin: str) -> tuple[Budget, ...]:
    """Turn the positional arguments of ``assert_budget`` into budgets.

    Args:
        budgets: Budget strings (``;``-separated, preset names allowed), ``Budget`` objects, or
            iterables of them (``INTERACTIVE_BUDGETS``).
        origin: The caller's name, for error messages (``assert_budget``).

    Raises:
        ConfigError: Nothing was given, or an item does not parse (the message has the column).
    """
    __tracebackhide__ = True
    if not budgets:
        raise ConfigError(f"{origin}(): expected at least one budget, e.g. 'GET /users p95<200ms'")
    found: list[Budget] = []
    for index, item in enumerate(budgets):
        where = origin if len(budgets) == 1 else f"{origin}[{index}]"
        try:
            found.extend(coerce_budgets(item, origin=where))
        except ConfigError as error:
            # Raised afresh: a failing test then shows its own line and this message, not
            # the parser's frames.
            raise ConfigError(str(error)) from None
    if not found:
        raise ConfigError(f"{origin}{tuple(budgets)!r}: expected at least one budget")
    return tuple(dict.fromkeys(found))


def sample_of(span: ReadableSpan) -> SpanSample | None:
    """Read what budgets need from an ended span; None if it has not ended."""
    start_ns, end_ns = span.start_time, span.end_time
    if start_ns is None or end_ns is None:
        return None
    context = span.context
    return SpanSample(
        name=span.name,
        duration_ms=(end_ns - start_ns) / _NS_PER_MS,
        kind=span.kind.name.lower(),
        error=span.status.status_code is StatusCode.ERROR,
        # As text, the way key_attributes builds operation keys in production.
        attributes={key: str(value) for key, value in (span.attributes or {}).items()},
        trace_id=format(context.trace_id, "032x") if context is not None else "",
    )


def check_budget(
    *budgets: object, spans: Iterable[ReadableSpan | SpanSample], hint: str = ""
) -> list[BudgetCheck]:
    """Judge budgets over spans without raising on a breach.

    Args:
        *budgets: Budget strings, ``Budget`` objects or iterables of them.
        spans: Ended SDK spans (``ReadableSpan``) or ``SpanSample`` records.
        hint: Appended to the message when there is no span at all (where spans come from).

    Returns:
        One check per budget, in order; ``check.passed`` and ``check.message`` tell the verdict.

    Raises:
        ConfigError: A budget does not parse.
    """
    return judge_all(budgets, spans, origin="check_budget", hint=hint)


def assert_budget(
    *budgets: object, spans: Iterable[ReadableSpan | SpanSample], hint: str = ""
) -> list[BudgetCheck]:
    """Fail unless every budget holds over ``spans``; return the checks when they all pass.

    A budget fails when its statistic is over the threshold (``warning`` or worse), when no
    operation had the budget's ``min`` spans (append ``min N`` to judge fewer), or when its
    selector matched no span (the message lists the operations seen).

    Raises:
        BudgetFailed: At least one budget did not pass; the message explains each one.
        ConfigError: A budget does not parse.
    """
    __tracebackhide__ = True  # pytest: show the caller's line, not this frame
    return passed_or_raise(judge_all(budgets, spans, origin="assert_budget", hint=hint))


def judge_all(
    budgets: Sequence[object],
    spans: Iterable[ReadableSpan | SpanSample],
    *,
    origin: str,
    hint: str = "",
) -> list[BudgetCheck]:
    """Coerce ``budgets`` (errors name ``origin``) and judge each one over ``spans``."""
    __tracebackhide__ = True
    chosen = coerce(budgets, origin=origin)
    samples = _samples(spans)
    return [judge(budget, samples, hint=hint or _default_hint()) for budget in chosen]


def passed_or_raise(checks: list[BudgetCheck]) -> list[BudgetCheck]:
    """Return ``checks`` if they all passed.

    Raises:
        BudgetFailed: With the checks that did not pass.
    """
    __tracebackhide__ = True
    failed = [check for check in checks if not check.passed]
    if failed:
        raise BudgetFailed(failed)
    return checks


def _samples(spans: Iterable[ReadableSpan | SpanSample]) -> list[SpanSample]:
    samples: list[SpanSample] = []
    for span in spans:
        sample = span if isinstance(span, SpanSample) else sample_of(span)
        if sample is not None:
            samples.append(sample)
    return samples


def _default_hint() -> str:
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return " (OTEL_SDK_DISABLED=true: the SDK records no span)"
    return ""

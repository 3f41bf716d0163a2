"""Public-API usage that ``mypy --strict`` checks (never imported by pytest).

If a signature of the public API changes in a way that breaks typed user code, mypy fails on this
file. Each ``assert_type`` pins what a user's type checker sees.
"""

from collections.abc import Mapping

from typing_extensions import assert_type

import otelperf
from otelperf import ConfigError, Handle, OperationStats
from otelperf.budgets import INTERACTIVE_BUDGETS, Budget, BudgetStatus


def configure_and_read() -> None:
    """What a service does at startup and in a health endpoint."""
    handle = otelperf.configure(service_name="shop", budgets=[*INTERACTIVE_BUDGETS])
    assert_type(handle, Handle)
    assert_type(otelperf.stats(), Mapping[str, OperationStats])
    users = otelperf.stats("GET /users")
    assert_type(users, OperationStats | None)
    if users is not None:
        assert_type(users.p99_ms, float)
        assert_type(users.count, int)
        assert_type(users.quantile(0.999), float)
    assert_type(otelperf.budget_report(), list[BudgetStatus])
    assert_type(Budget.parse("GET /users p99<250ms"), Budget)
    assert_type(otelperf.report(format="json"), str)
    assert_type(otelperf.shutdown(), bool)


@otelperf.track("checkout.total")
def checkout(cart: list[int]) -> int:
    """A decorated function keeps its signature."""
    return sum(cart)


@otelperf.track("checkout.async")
async def checkout_async(cart: list[int]) -> int:
    """A decorated coroutine function keeps its signature."""
    return sum(cart)


async def use_decorated() -> None:
    """Decorated callables are typed like the originals."""
    assert_type(checkout([1, 2]), int)
    assert_type(await checkout_async([1, 2]), int)
    with otelperf.track("block"):
        pass


def handle_bad_input() -> str:
    """ConfigError is a ValueError whose message names the setting."""
    try:
        otelperf.configure(window_s=0)
    except ConfigError as error:
        assert_type(error, ConfigError)
        return str(error)
    return ""


def keywords_are_typed() -> None:
    """configure()'s keywords are typed: mypy refuses a misspelt name or a wrong type."""
    otelperf.configure(
        sample_ratio=0.1,
        measure_unsampled="roots",
        exporters=["otlp", "console"],
        alerts=["log", lambda alert: None],
        memory_interval_s="off",
        on_slow=lambda name, duration_ms, trace_id: None,
    )
    otelperf.configure(sampel_ratio=0.1)  # type: ignore[call-arg]
    otelperf.configure(window_s="a minute")  # type: ignore[arg-type]
    otelperf.configure(tail_sampling="maybe")  # type: ignore[arg-type]

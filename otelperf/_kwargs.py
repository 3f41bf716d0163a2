"""The keyword arguments of ``otelperf.configure()``, for type checkers and editors.

:class:`~otelperf._settings.Settings` declares each setting once (name, default, meaning, how its
value is checked); this ``TypedDict`` only says which Python values ``configure()`` accepts for
each, so that mypy/pyright flag a misspelt keyword or a wrong type before the program runs, and
editors complete the names. A test keeps its keys equal to the settings. At run time the values
are still checked by ``Settings`` (``ConfigError`` on a bad one); ``None`` means "not given", as
everywhere in ``configure()``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Literal, TypedDict

from otelperf.alerts import AlertSinkSpec
from otelperf.budgets import Budget

__all__ = ["ConfigureKwargs"]

_Off = Literal["off"]


class ConfigureKwargs(TypedDict, total=False):
    """What ``otelperf.configure(**settings)`` takes; the meanings are in the settings table."""

    service_name: str | None
    sample_ratio: float | None
    exporters: str | Sequence[str] | None
    otlp_preset: Literal["sentry", "newrelic"] | None
    measure_unsampled: Literal["all", "roots", "none"] | None
    window_s: float | None
    max_operations: int | None
    key_attributes: str | Sequence[str] | None
    budgets: str | Budget | Iterable[str | Budget] | None
    alerts: AlertSinkSpec | Iterable[AlertSinkSpec] | None
    alert_interval_s: float | None
    regression_factor: float | _Off | None
    slow_ms: float | None
    very_slow_ms: float | None
    on_slow: Callable[[str, float, str], object] | str | None
    tail_sampling: Literal["auto", "on", "off"] | None
    tail_max_traces: int | None
    tail_max_spans_per_trace: int | None
    tail_wait_s: float | None
    floor_interval_s: float | None
    memory_interval_s: float | _Off | None
    leak_window_s: float | None
    leak_min_growth_mb_per_h: float | None
    leak_deep: bool | None
    span_leak_after_s: float | _Off | None

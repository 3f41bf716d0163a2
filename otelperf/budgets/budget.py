"""``Budget``: which operations, which statistic, how much, and how loud a breach is."""

from __future__ import annotations

import fnmatch
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from otelperf._errors import ConfigError
from otelperf.budgets import _units
from otelperf.budgets._lexer import SEPARATORS, SPAN_KINDS, STATISTICS, selector_problem

__all__ = [
    "DEFAULT_MIN_SAMPLES",
    "QUANTILES",
    "SLO",
    "SPAN_KINDS",
    "STATISTICS",
    "Budget",
    "Unit",
    "field_problem",
]

SLO = "slo"
"""The ``statistic`` of an SLO budget (``POST /orders 99%<400ms over 30d``)."""

QUANTILES: Mapping[str, float] = {
    "p50": 0.5,
    "p75": 0.75,
    "p90": 0.9,
    "p95": 0.95,
    "p99": 0.99,
    "p999": 0.999,
}
"""The quantile, in [0, 1], behind each percentile statistic."""

DEFAULT_MIN_SAMPLES = 20
"""Default ``min`` samples.

20 is the smallest count at which the nearest-rank p95 is not the maximum
(``ceil(0.95 * 20) = 19``): below it one slow request alone decides a p95 budget. Tail
budgets (p99, p999) and error rates need more; the presets set ``min`` explicitly for those.
"""

_DEFAULT_RATIOS = (1.0, 1.5, 2.0)

Unit = Literal["ms", "fraction"]
"""The unit of a threshold or measured value: milliseconds, or a fraction in [0, 1]."""

Matcher = Callable[[str, str, Mapping[str, str]], bool]


def field_problem(name: str, value: object) -> str | None:
    """Say what is wrong with one field value of a ``Budget``, or return None if it is fine.

    Args:
        name: A ``Budget`` field name other than ``statistic`` and ``objective``.
        value: The candidate value.

    Returns:
        What was expected (``"a finite number above 0"``), or None.
    """
    if name == "selector":
        if not isinstance(value, str):
            return "a string"
        problem = selector_problem(value)
        return None if problem is None else problem[1]
    if name in ("impact", "owner"):
        if not isinstance(value, str):
            return "a string"
        return "text without ';' or line breaks" if SEPARATORS.intersection(value) else None
    if name == "min_samples":
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= 1
        return None if ok else "a whole number of samples of at least 1"
    if name == "window_s" and value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "a number"
    return None if 0 < value < math.inf else "a finite number above 0"


@dataclass(frozen=True, slots=True, kw_only=True)
class Budget:
    """A performance budget: a selector, a statistic and a threshold, plus how to judge it.

    Build one with ``Budget.parse("GET /users p99<250ms")`` or directly. Instances are immutable
    and hashable; ``budget.text`` is the canonical string form and ``Budget.parse(b.text) == b``.

    Attributes:
        selector: A glob on the operation (span) name (``GET /users/*``), ``kind=server`` (span
            kind: server, client, internal, producer, consumer) or ``attr.KEY=VALUE`` (the value
            is a glob). Globs are case-sensitive ``fnmatch`` patterns.
        statistic: ``p50 p75 p90 p95 p99 p999 avg max error_rate``, or ``slo`` when
            ``objective`` is set.
        threshold: The limit: milliseconds for latency statistics and SLOs, a fraction in
            (0, 1] for ``error_rate``.
        objective: SLO budgets only: the fraction of requests, in (0, 1), that must take at most
            ``threshold`` ms. SLOs alert on multi-window burn rates, not on ratios.
        window_s: The window the statistic is computed over; None means the live window. For an
            SLO, the compliance period (None: 30 days).
        min_samples: Below this many requests in the window the state is ``insufficient_data``.
        warning_ratio: ``warning`` when actual > warning_ratio x threshold.
        error_ratio: ``error`` when actual >= error_ratio x threshold.
        critical_ratio: ``critical`` when actual >= critical_ratio x threshold.
        impact: Free text for alerts: what users feel when the budget is broken.
        owner: Free text for alerts: who to call.

    Raises:
        ConfigError: A field is invalid; the message names the field, the value and what is
            expected.
    """

    selector: str
    statistic: str
    threshold: float
    objective: float | None = None
    window_s: float | None = None
    min_samples: int = DEFAULT_MIN_SAMPLES
    warning_ratio: float = 1.0
    error_ratio: float = 1.5
    critical_ratio: float = 2.0
    impact: str = ""
    owner: str = ""
    _matcher: Matcher = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        """Check every field, normalise numbers to float and compile the selector."""
        names = ("selector", "threshold", "window_s", "min_samples", "impact", "owner")
        for name in (*names, "warning_ratio", "error_ratio", "critical_ratio"):
            self._check(name, field_problem(name, getattr(self, name)))
        self._check("statistic", None if self.statistic in (*STATISTICS, SLO) else "a statistic")
        if self.statistic == "error_rate" and self.threshold > 1:
            self._check("threshold", "an error rate as a fraction at most 1")
        objective_ok = self.objective is None or (
            isinstance(self.objective, (int, float)) and 0 < self.objective < 1
        )
        self._check("objective", None if objective_ok else "a fraction above 0 and below 1")
        if (self.statistic == SLO) != (self.objective is not None):
            self._check("objective", "an objective exactly when statistic is 'slo'")
        ratios = (self.warning_ratio, self.error_ratio, self.critical_ratio)
        if self.is_slo and ratios != _DEFAULT_RATIOS:
            self._check("warning_ratio", "default ratios on an SLO (burn rates set its severity)")
        if not ratios[0] <= ratios[1] <= ratios[2]:
            self._check("error_ratio", "warning_ratio <= error_ratio <= critical_ratio")
        for name in ("threshold", "warning_ratio", "error_ratio", "critical_ratio"):
            object.__setattr__(self, name, float(getattr(self, name)))
        if self.window_s is not None:
            object.__setattr__(self, "window_s", float(self.window_s))
        if self.objective is not None:
            object.__setattr__(self, "objective", float(self.objective))
        object.__setattr__(self, "_matcher", _compile(self.selector))

    def _check(self, name: str, expected: str | None) -> None:
        if expected is not None:
            value = getattr(self, name)
            raise ConfigError(f"Budget({name}={value!r}): expected {expected}")

    @classmethod
    def parse(cls, text: str, *, origin: str = "Budget.parse") -> Budget:
        """Parse one budget from its string form.

        Args:
            text: E.g. ``"GET /users p99<250ms"``, ``"db.* p95<50ms over 5m min 20"``,
                ``"kind=server error_rate<1%"``, ``"POST /orders 99%<400ms over 30d"``.
            origin: Where the text came from, for error messages (``"OTELPERF_BUDGETS"``).

        Returns:
            The budget.

        Raises:
            ConfigError: ``{origin}: '{text}' at column N: expected ...`` (columns are 1-based).
        """
        # Imported here: the parser builds Budgets, so it imports this module.
        from otelperf.budgets.parser import parse_budget

        return parse_budget(text, origin=origin)

    @property
    def is_slo(self) -> bool:
        """Whether this is an SLO budget (alerting on burn rate)."""
        return self.objective is not None

    @property
    def unit(self) -> Unit:
        """``"fraction"`` for ``error_rate`` budgets, else ``"ms"`` (the unit of ``threshold``)."""
        return "fraction" if self.statistic == "error_rate" else "ms"

    def matches(self, operation: str, kind: str, attributes: Mapping[str, str]) -> bool:
        """Whether the selector picks this operation.

        Args:
            operation: The operation key (span name).
            kind: The span kind name, any case (``"SERVER"`` or ``"server"``).
            attributes: The operation's key attributes (may be empty).
        """
        return self._matcher(operation, kind, attributes)

    @property
    def text(self) -> str:
        """The canonical string form; ``Budget.parse(budget.text) == budget``."""
        if self.objective is not None:
            head = f"{_units.format_percent(self.objective)}<"
            head += _units.format_latency_ms(self.threshold)
        elif self.statistic == "error_rate":
            head = f"error_rate<{_units.format_percent(self.threshold)}"
        else:
            head = f"{self.statistic}<{_units.format_latency_ms(self.threshold)}"
        parts = [self.selector, head]
        if self.window_s is not None:
            parts.append(f"over {_units.format_window_s(self.window_s)}")
        if self.min_samples != DEFAULT_MIN_SAMPLES:
            parts.append(f"min {self.min_samples}")
        for name, ratio, default in zip(
            ("warning", "error", "critical"),
            (self.warning_ratio, self.error_ratio, self.critical_ratio),
            _DEFAULT_RATIOS,
            strict=True,
        ):
            if ratio != default:
                parts.append(f"{name} {_units.format_plain(ratio)}x")
        for name, value in (("impact", self.impact), ("owner", self.owner)):
            if value:
                parts.append(f"{name} {_quote(value)}")
        return " ".join(parts)

    def __str__(self) -> str:
        """Return ``self.text``."""
        return self.text


def _quote(value: str) -> str:
    r"""Write ``value`` as one word if it is one, else in double quotes with ``\\`` escapes."""
    if not value.startswith('"') and not any(char.isspace() for char in value):
        return value
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _compile(selector: str) -> Matcher:
    """Turn a (valid) selector into a predicate; globs become one compiled regex."""
    if selector.startswith("kind="):
        wanted = selector[5:]
        return lambda _operation, kind, _attributes: kind.lower() == wanted
    if selector.startswith("attr."):
        key, _, pattern = selector[5:].partition("=")
        value_matches = re.compile(fnmatch.translate(pattern)).match

        def by_attribute(_operation: str, _kind: str, attributes: Mapping[str, str]) -> bool:
            value = attributes.get(key)
            return value is not None and value_matches(value) is not None

        return by_attribute
    if not any(char in selector for char in "*?["):
        return lambda operation, _kind, _attributes: operation == selector
    name_matches = re.compile(fnmatch.translate(selector)).match
    return lambda operation, _kind, _attributes: name_matches(operation) is not None

"""Hand-written parser for budget strings, and coercion of ``budgets=`` values.

Grammar (``[]`` optional, options in any order, each at most once)::

    budget    = selector statistic "<" number unit [option]...
    selector  = glob on the operation name | "kind=" KIND | "attr." KEY "=" glob
    statistic = p50 | p75 | p90 | p95 | p99 | p999 | avg | max | error_rate | NUMBER "%"
    unit      = us | ms | s           (error_rate: "%" or none, i.e. a fraction)
    option    = "over" NUMBER (s|m|h|d) | "min" INTEGER
              | ("warning" | "error" | "critical") NUMBER "x"
              | ("impact" | "owner") (WORD | '"' text '"')

``NUMBER "%"`` as the statistic makes an SLO: ``POST /orders 99%<400ms over 30d``. Spaces are
allowed around ``<``. Error messages give a 1-based column: the first character that is not what
was expected (``len(text) + 1`` when the text ended too early).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import NoReturn

from otelperf._errors import ConfigError
from otelperf.budgets import _units
from otelperf.budgets._lexer import (
    SEPARATORS,
    STATISTICS,
    comparison_at,
    find_statistic,
    scan_number,
    selector_problem,
    skip_space,
    stat_token,
    word_end,
    words,
)
from otelperf.budgets.budget import DEFAULT_MIN_SAMPLES, Budget
from otelperf.budgets.presets import BUDGET_PRESETS

__all__ = ["coerce_budgets", "parse_budget", "parse_budgets"]

_OPTIONS = ("over", "min", "warning", "error", "critical", "impact", "owner")
_RATIOS = {"warning": "warning_ratio", "error": "error_ratio", "critical": "critical_ratio"}
_ONE = Decimal(1)
_SPLIT = re.compile(r"[;\r\n]")
_MAX_WINDOW_S = 366 * 86_400  # SLO periods are days to a year; budgets allow at most 6 h
_EXPECT_OPTION = "'over', 'min', 'warning', 'error', 'critical', 'impact' or 'owner'"
_EXPECT_STAT = f"a statistic ({', '.join(STATISTICS)}) or an objective like 99%, followed by '<'"


def parse_budget(text: str, *, origin: str = "Budget.parse") -> Budget:
    """Parse one budget string; see the module docstring for the grammar.

    Args:
        text: One budget, e.g. ``"GET /users/{id} p99<250ms over 5m min 50"``.
        origin: Where the text came from, named first in error messages.

    Returns:
        The budget.

    Raises:
        ConfigError: ``{origin}: '{text}' at column N: expected ...``.
    """
    return _Parser(text, origin).budget()


def parse_budgets(text: str, *, origin: str) -> tuple[Budget, ...]:
    """Parse budgets separated by ``;`` or line breaks; preset names expand to their budgets.

    Args:
        text: E.g. ``"interactive; GET /users p99<250ms"``. Preset names (``interactive``,
            ``rendering``, ``background``, ``strict``, ``relaxed``) are case-insensitive.
            Empty pieces are ignored.
        origin: Where the text came from (``"OTELPERF_BUDGETS"``), named in error messages.

    Returns:
        The budgets in order, exact duplicates removed.

    Raises:
        ConfigError: A piece is neither a preset name nor a valid budget.
    """
    budgets: list[Budget] = []
    for piece in _SPLIT.split(text):
        piece = piece.strip()
        if not piece:
            continue
        preset = BUDGET_PRESETS.get(piece.lower())
        budgets.extend(preset if preset is not None else (parse_budget(piece, origin=origin),))
    return tuple(dict.fromkeys(budgets))


def coerce_budgets(value: object, *, origin: str) -> tuple[Budget, ...]:
    """Turn what a user passed as ``budgets`` into a tuple of budgets.

    Args:
        value: None (no budgets), a ``Budget``, a string for :func:`parse_budgets`, or an
            iterable mixing those (nested iterables such as a preset tuple are flattened), e.g.
            ``[*INTERACTIVE_BUDGETS, "GET /users p99<250ms"]``.
        origin: Where the value came from (``"configure(budgets=...)"``).

    Returns:
        The budgets in order, exact duplicates removed.

    Raises:
        ConfigError: An item has another type, or a string does not parse.
    """
    if value is None:
        return ()
    if isinstance(value, Budget):
        return (value,)
    if isinstance(value, str):
        return parse_budgets(value, origin=origin)
    if isinstance(value, (bytes, bytearray, Mapping)) or not isinstance(value, Iterable):
        raise ConfigError(
            f"{origin}={value!r}: expected a Budget, a budget string, a preset name "
            "or a list of them"
        )
    budgets: list[Budget] = []
    for index, item in enumerate(value):
        budgets.extend(coerce_budgets(item, origin=f"{origin}[{index}]"))
    return tuple(dict.fromkeys(budgets))


class _Parser:
    """One pass over one budget string; ``pos`` values are 0-based indexes into ``text``."""

    def __init__(self, text: str, origin: str) -> None:
        self.text = text
        self.origin = origin

    def fail(self, pos: int, expected: str) -> NoReturn:
        raise ConfigError(f"{self.origin}: {self.text!r} at column {pos + 1}: expected {expected}")

    def budget(self) -> Budget:
        text = self.text
        for pos, char in enumerate(text):
            if char in SEPARATORS:
                self.fail(pos, "one budget (';' and line breaks separate budgets)")
        spans = words(text)
        if not spans:
            self.fail(len(text), "a budget like 'GET /users p99<250ms'")
        found = find_statistic(text, spans)
        if found is None:
            self._no_statistic(spans)
        index, token = found
        selector = text[spans[0][0] : spans[index - 1][1]]
        problem = selector_problem(selector)
        if problem is not None:
            self.fail(spans[0][0] + problem[0], problem[1])
        objective = None
        if token.name == "slo":
            objective = _units.scaled(token.digits, _units.PERCENT)
            if not 0 < objective < 1:
                self.fail(token.start, "an objective above 0% and below 100%")
        start = skip_space(text, skip_space(text, token.end) + 1)
        threshold, pos = self._threshold(token.name, start)
        options = self._options(pos, slo=objective is not None)
        return Budget(
            selector=selector,
            statistic=token.name,
            threshold=threshold,
            objective=objective,
            window_s=options.window_s,
            min_samples=options.min_samples,
            warning_ratio=options.warning_ratio,
            error_ratio=options.error_ratio,
            critical_ratio=options.critical_ratio,
            impact=options.impact,
            owner=options.owner,
        )

    def _no_statistic(self, spans: list[tuple[int, int]]) -> NoReturn:
        if comparison_at(self.text, spans[0][0]) is not None:
            self.fail(spans[0][0], "an operation name, kind=KIND or attr.KEY=VALUE first")
        for start, _ in reversed(spans[1:]):
            token = stat_token(self.text, start)
            if token is not None:
                shown = token.digits + "%" if token.name == "slo" else token.name
                self.fail(skip_space(self.text, token.end), f"'<' after '{shown}'")
        self.fail(len(self.text.rstrip()), _EXPECT_STAT)

    def _threshold(self, statistic: str, pos: int) -> tuple[float, int]:
        text = self.text
        end = scan_number(text, pos)
        if end == pos:
            self.fail(pos, "a number")
        digits, unit_end = text[pos:end], word_end(text, end)
        unit = text[end:unit_end]
        if statistic == "error_rate":
            if unit not in ("%", ""):
                self.fail(end, "'%' or nothing after an error rate (like 1% or 0.01)")
            value = _units.scaled(digits, _units.PERCENT if unit else _ONE)
            if not unit and value > 1:
                self.fail(pos, f"a fraction at most 1 (or a percentage: {digits}%)")
            if not 0 < value <= 1:
                self.fail(pos, "an error rate above 0% and at most 100%")
            return value, unit_end
        factor = _units.LATENCY_UNITS.get(unit)
        if factor is None:
            self.fail(end, "a unit (us, ms, s)")
        return self._positive(digits, factor, pos, "threshold"), unit_end

    def _positive(self, digits: str, factor: Decimal, pos: int, what: str) -> float:
        value = _units.scaled(digits, factor)
        if value <= 0:
            self.fail(pos, f"a {what} above 0")
        if value == float("inf"):
            self.fail(pos, f"a smaller {what}")
        return value

    def _options(self, pos: int, *, slo: bool) -> _Options:
        text = self.text
        options = _Options()
        value_pos: dict[str, int] = {}
        while (pos := skip_space(text, pos)) < len(text):
            end = word_end(text, pos)
            keyword = text[pos:end]
            if keyword not in _OPTIONS:
                self.fail(pos, _EXPECT_OPTION)
            if keyword in value_pos:
                self.fail(pos, f"at most one '{keyword}'")
            if slo and keyword in _RATIOS:
                self.fail(pos, "no severity ratio on an SLO (its burn rates set the severity)")
            pos = value_pos[keyword] = skip_space(text, end)
            name, value, pos = self._option_value(keyword, pos)
            setattr(options, name, value)
        self._check_ratios(options, value_pos)
        return options

    def _option_value(self, keyword: str, pos: int) -> tuple[str, object, int]:
        text = self.text
        if keyword in ("impact", "owner"):
            if pos < len(text) and text[pos] == '"':
                return (keyword, *self._quoted(pos))
            end = word_end(text, pos)
            if end == pos:
                self.fail(pos, f"text after '{keyword}'")
            return keyword, text[pos:end], end
        end = scan_number(text, pos)
        unit_end = word_end(text, end)
        unit = text[end:unit_end]
        if keyword == "min":
            if end == pos or unit or "." in text[pos:end]:
                self.fail(pos, "a whole number of samples like 20")
            if len(text[pos:end].lstrip("0")) > 9:
                self.fail(pos, "at most 999999999 samples")
            if int(text[pos:end]) < 1:
                self.fail(pos, "at least 1 sample")
            return "min_samples", int(text[pos:end]), end
        if keyword == "over":
            if end == pos:
                self.fail(pos, "a window like 5m or 30d")
            factor = _units.WINDOW_UNITS.get(unit)
            if factor is None:
                self.fail(end, "a window unit (s, m, h, d)")
            window_s = self._positive(text[pos:end], factor, pos, "window")
            if window_s > _MAX_WINDOW_S:
                self.fail(pos, "a window of at most 366d")
            return "window_s", window_s, unit_end
        if end == pos:
            self.fail(pos, "a ratio like 1.5x")
        if unit != "x":
            self.fail(end, "'x' after the ratio (like 1.5x)")
        return _RATIOS[keyword], self._positive(text[pos:end], _ONE, pos, "ratio"), unit_end

    def _quoted(self, pos: int) -> tuple[str, int]:
        text, chars, index = self.text, [], pos + 1
        while index < len(text) and text[index] != '"':
            if text[index] == "\\" and text[index + 1 : index + 2] in ('"', "\\"):
                index += 1
            chars.append(text[index])
            index += 1
        if index >= len(text):
            self.fail(len(text), "a closing '\"'")
        if index + 1 < len(text) and not text[index + 1].isspace():
            self.fail(index + 1, "a space after the closing '\"'")
        return "".join(chars), index + 1

    def _check_ratios(self, options: _Options, value_pos: Mapping[str, int]) -> None:
        ratios = {
            "warning": options.warning_ratio,
            "error": options.error_ratio,
            "critical": options.critical_ratio,
        }
        for low, high in (("warning", "error"), ("error", "critical")):
            if ratios[low] <= ratios[high]:
                continue
            if high in value_pos:
                bound = _units.format_plain(ratios[low])
                self.fail(value_pos[high], f"{high} ratio >= {low} ratio ({bound}x)")
            bound = _units.format_plain(ratios[high])
            self.fail(value_pos[low], f"{low} ratio <= {high} ratio ({bound}x)")


@dataclass(slots=True)
class _Options:
    """The optional clauses of one budget string, with ``Budget``'s defaults."""

    window_s: float | None = None
    min_samples: int = DEFAULT_MIN_SAMPLES
    warning_ratio: float = 1.0
    error_ratio: float = 1.5
    critical_ratio: float = 2.0
    impact: str = ""
    owner: str = ""

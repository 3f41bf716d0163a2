"""Lexical rules of budget strings, shared by the parser and by ``Budget``'s own checks.

A budget string is ``SELECTOR STATISTIC<THRESHOLD [OPTION VALUE]...``. The selector may contain
spaces (``GET /users/{id}``), so the statistic is found as the first word after the first one that
starts with a statistic (or an objective such as ``99%``) followed, after optional spaces, by ``<``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "SEPARATORS",
    "SPAN_KINDS",
    "STATISTICS",
    "StatToken",
    "comparison_at",
    "find_statistic",
    "scan_number",
    "selector_problem",
    "skip_space",
    "stat_token",
    "word_end",
    "words",
]

STATISTICS: tuple[str, ...] = (
    "p50",
    "p75",
    "p90",
    "p95",
    "p99",
    "p999",
    "avg",
    "max",
    "error_rate",
)
"""Statistics a budget can bound, in the order error messages list them."""

SPAN_KINDS: tuple[str, ...] = ("server", "client", "internal", "producer", "consumer")
"""Values accepted by a ``kind=`` selector (OTel span kinds, lower case)."""

SEPARATORS = frozenset(";\r\n")
"""Characters that separate budgets in ``OTELPERF_BUDGETS``; no single budget may contain them."""

# Longest first, so that ``p999`` is not read as ``p99`` followed by ``9``.
_LONGEST_FIRST = tuple(sorted(STATISTICS, key=len, reverse=True))
# A statistic token must end at a boundary: ``p99x<1ms`` or ``p9999<1ms`` is part of a name.
_WORD_CHARS = frozenset("_.%")


@dataclass(frozen=True, slots=True)
class StatToken:
    """A statistic (``p99``) or objective (``99.9%``, name ``slo``) at ``start:end`` of a text."""

    name: str
    digits: str
    start: int
    end: int


def skip_space(text: str, pos: int) -> int:
    """Return the first index at or after ``pos`` that is not whitespace (or ``len(text)``)."""
    while pos < len(text) and text[pos].isspace():
        pos += 1
    return pos


def word_end(text: str, pos: int) -> int:
    """Return the first whitespace index at or after ``pos`` (or ``len(text)``)."""
    while pos < len(text) and not text[pos].isspace():
        pos += 1
    return pos


def words(text: str) -> list[tuple[int, int]]:
    """Return the ``(start, end)`` of every whitespace-separated word of ``text``."""
    spans = []
    pos = skip_space(text, 0)
    while pos < len(text):
        end = word_end(text, pos)
        spans.append((pos, end))
        pos = skip_space(text, end)
    return spans


def scan_number(text: str, pos: int) -> int:
    """Return the end of the number ``DIGITS[.DIGITS]`` at ``pos``, or ``pos`` if there is none."""
    end = _scan_digits(text, pos)
    if end > pos and end + 1 < len(text) and text[end] == ".":
        fraction_end = _scan_digits(text, end + 1)
        if fraction_end > end + 1:
            return fraction_end
    return end


def _scan_digits(text: str, pos: int) -> int:
    while pos < len(text) and "0" <= text[pos] <= "9":
        pos += 1
    return pos


def stat_token(text: str, pos: int) -> StatToken | None:
    """Return the statistic or objective token that starts at ``pos``, if one does."""
    for name in _LONGEST_FIRST:
        if text.startswith(name, pos):
            token = StatToken(name, "", pos, pos + len(name))
            break
    else:
        end = scan_number(text, pos)
        if end == pos or end >= len(text) or text[end] != "%":
            return None
        token = StatToken("slo", text[pos:end], pos, end + 1)
    if token.end < len(text) and (text[token.end].isalnum() or text[token.end] in _WORD_CHARS):
        return None
    return token


def comparison_at(text: str, pos: int) -> StatToken | None:
    """Return the statistic at ``pos`` if a ``<`` follows it (after optional spaces)."""
    token = stat_token(text, pos)
    if token is None:
        return None
    after = skip_space(text, token.end)
    return token if after < len(text) and text[after] == "<" else None


def find_statistic(text: str, spans: list[tuple[int, int]]) -> tuple[int, StatToken] | None:
    """Find the statistic of a budget string.

    Args:
        text: The budget string.
        spans: ``words(text)``.

    Returns:
        ``(word_index, token)`` for the first word, after the selector's mandatory first word,
        that starts a comparison (``p99<``, ``p99 <``, ``99%<``); None if there is none.
    """
    for index in range(1, len(spans)):
        token = comparison_at(text, spans[index][0])
        if token is not None:
            return index, token
    return None


def selector_problem(selector: str) -> tuple[int, str] | None:
    """Check a selector; return ``(offset, what was expected)`` for its first problem, or None."""
    if not selector or selector[0].isspace() or selector[-1].isspace():
        return 0, "an operation name, kind=KIND or attr.KEY=VALUE without surrounding spaces"
    for offset, char in enumerate(selector):
        if char in SEPARATORS:
            return offset, "one budget (';' and line breaks separate budgets)"
    if selector.startswith("kind="):
        if selector[5:] not in SPAN_KINDS:
            return 5, f"a span kind ({', '.join(SPAN_KINDS)})"
    elif selector.startswith("attr."):
        key, equals, value = selector[5:].partition("=")
        space = next((i for i, char in enumerate(key) if char.isspace()), None)
        if not key:
            return 5, "an attribute key after 'attr.'"
        if space is not None:
            return 5 + space, "'=' right after the attribute key (keys have no spaces)"
        if not equals:
            return len(selector), "'=' and a value after the attribute key"
        if not value:
            return len(selector), "a value after '='"
    found = find_statistic(selector, words(selector))
    if found is not None:
        return found[1].start, "a selector without a statistic and '<' inside it"
    return None

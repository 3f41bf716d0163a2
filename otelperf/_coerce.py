"""Coercers: turn a raw setting value (a keyword value or environment text) into a checked one.

Each raises :class:`~otelperf.ConfigError` naming the origin, the value and what is expected.
:mod:`otelperf._settings` declares which coercer each setting uses.
"""

from __future__ import annotations

import importlib
import math
import sys
from collections.abc import Callable, Mapping
from typing import ClassVar, Generic, TypeVar

from otelperf._errors import ConfigError, describe
from otelperf.alerts import AlertSink, parse_alert_sinks
from otelperf.budgets import Budget, coerce_budgets

__all__ = [
    "AlertSinks",
    "Budgets",
    "Choice",
    "Coerce",
    "FactorOrOff",
    "Flag",
    "Function",
    "Integer",
    "Names",
    "Number",
    "NumberOrOff",
    "Text",
    "TextList",
]

T = TypeVar("T")


class Coerce(Generic[T]):
    """Turns a raw value (keyword value or environment string) into a checked setting value."""

    expected: str = "a value"

    def __call__(self, value: object, origin: str) -> T:
        """Return the checked value, or raise ConfigError naming ``origin``."""
        raise NotImplementedError

    def fail(self, value: object, origin: str, *, expected: str | None = None) -> ConfigError:
        """Build the error for a bad ``value`` from ``origin`` (``expected`` overrides the text)."""
        return ConfigError(f"{describe(origin, value)}: expected {expected or self.expected}")


class Text(Coerce[str]):
    """A non-empty string without control characters."""

    expected = "a non-empty string"

    def __call__(self, value: object, origin: str) -> str:
        """Check and strip the string."""
        if not isinstance(value, str) or not value.strip() or not value.isprintable():
            raise self.fail(value, origin)
        return value.strip()


class Number(Coerce[float]):
    """A finite float within ``[low, high]``."""

    def __init__(self, *, low: float, high: float = math.inf, low_open: bool = False) -> None:
        """Set the accepted range (``low_open`` excludes ``low`` itself)."""
        self.low, self.high, self.low_open = low, high, low_open
        above = f"{'>' if low_open else '>='} {low:.15g}"
        if high == math.inf:
            self.expected = f"a number {above}"
        elif low_open:
            self.expected = f"a number {above} and <= {high:.15g}"
        else:
            self.expected = f"a number between {low:.15g} and {high:.15g}"

    def __call__(self, value: object, origin: str) -> float:
        """Parse (from text if needed) and range-check the number."""
        if isinstance(value, bool):
            raise self.fail(value, origin)
        try:
            number = float(value.strip()) if isinstance(value, str) else float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise self.fail(value, origin) from None
        too_low = number <= self.low if self.low_open else number < self.low
        if not math.isfinite(number) or too_low or number > self.high:
            raise self.fail(value, origin)
        return number


class Integer(Coerce[int]):
    """An integer within ``[low, high]``."""

    def __init__(self, *, low: int, high: int = sys.maxsize) -> None:
        """Set the accepted range."""
        self.low, self.high = low, high
        self.expected = (
            f"an integer >= {low}"
            if high == sys.maxsize
            else (f"an integer between {low} and {high}")
        )

    def __call__(self, value: object, origin: str) -> int:
        """Parse (from text if needed) and range-check the integer."""
        if isinstance(value, (bool, float)):
            raise self.fail(value, origin)
        try:
            number = int(value.strip()) if isinstance(value, str) else int(value)  # type: ignore[call-overload]
        except (TypeError, ValueError):
            raise self.fail(value, origin) from None
        if not self.low <= number <= self.high:
            raise self.fail(value, origin)
        return number


class Names(Coerce[tuple[str, ...]]):
    """A comma-separated string or a sequence of names, each one of a known set.

    ``allowed`` is called lazily so entry-point lookups happen only when the setting is used.
    The name ``none`` alone means the empty tuple.
    """

    def __init__(self, allowed: Callable[[], frozenset[str]], what: str) -> None:
        """Take the function listing valid names and a noun for the error message."""
        self.allowed, self.what = allowed, what

    def __call__(self, value: object, origin: str) -> tuple[str, ...]:
        """Split, strip, de-duplicate and check every name."""
        items = _split(value)
        if items is None:
            raise self.fail(value, origin, expected=f"a comma-separated list of {self.what}")
        if items == ["none"]:
            return ()
        allowed = self.allowed()
        if not items or any(item not in allowed for item in items):
            known = ", ".join(sorted(allowed | {"none"}))
            raise self.fail(value, origin, expected=f"{self.what} from: {known}")
        return tuple(dict.fromkeys(items))


def _split(value: object) -> list[str] | None:
    """Stripped items of a comma-separated string or a list/tuple of strings; None otherwise."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",")]
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return [str(v).strip() for v in value]
    return None


class Choice(Coerce[str]):
    """One of a fixed set of words."""

    def __init__(self, *choices: str) -> None:
        """Take the accepted words."""
        self.choices = choices
        self.expected = "one of " + ", ".join(choices)

    def __call__(self, value: object, origin: str) -> str:
        """Check the (stripped, lower-cased) word."""
        word = value.strip().lower() if isinstance(value, str) else value
        if word not in self.choices:
            raise self.fail(value, origin)
        return str(word)


class TextList(Coerce[tuple[str, ...]]):
    """A comma-separated string or a sequence of non-empty strings (e.g. attribute names)."""

    expected = "a comma-separated list of non-empty names"

    def __call__(self, value: object, origin: str) -> tuple[str, ...]:
        """Split, strip and de-duplicate; an empty list is allowed."""
        items = _split(value)
        if items is None:
            raise self.fail(value, origin)
        if items == [""]:
            return ()
        if not all(items) or not all(item.isprintable() for item in items):
            raise self.fail(value, origin)
        return tuple(dict.fromkeys(items))


class Budgets(Coerce[tuple[Budget, ...]]):
    """Budgets: ``Budget`` objects, budget strings, preset names, or a list mixing them.

    Strings are ``;``-separated (``OTELPERF_BUDGETS='interactive; GET /users p99<250ms'``); the
    budget parser's errors already name the origin, the text, the column and what is expected.
    """

    def __call__(self, value: object, origin: str) -> tuple[Budget, ...]:
        """Parse and de-duplicate the budgets."""
        return coerce_budgets(value, origin=origin)


class AlertSinks(Coerce[tuple[AlertSink, ...]]):
    """Alert sinks (see ``otelperf.alerts.parse_alert_sinks``); the word ``none`` means no sinks."""

    def __call__(self, value: object, origin: str) -> tuple[AlertSink, ...]:
        """Build the sinks; their constructors check URLs and imports now, not at first alert."""
        if isinstance(value, str) and value.strip().lower() == "none":
            return ()
        return parse_alert_sinks(value, origin=origin)  # type: ignore[arg-type]  # it checks


class FactorOrOff(Number):
    """A number above ``low``, or ``off`` (returned as None) to turn the feature off."""

    def __init__(self, *, low: float) -> None:
        """Accept numbers > ``low`` and the word ``off``."""
        super().__init__(low=low, low_open=True)
        self.expected += " or off"

    def __call__(self, value: object, origin: str) -> float | None:  # type: ignore[override]
        """Return the number, or None for ``off``."""
        if isinstance(value, str) and value.strip().lower() == "off":
            return None
        return super().__call__(value, origin)


class Function(Coerce[Callable[..., object]]):
    """A callable, or (from the environment) ``module:function`` naming one to import."""

    def __init__(self, signature: str) -> None:
        """Take the expected call signature, for the error message."""
        self.expected = f"a callable {signature} or 'module:function' naming one"

    def __call__(self, value: object, origin: str) -> Callable[..., object]:
        """Return the callable, importing it first when given as text."""
        if callable(value):
            return value
        if not isinstance(value, str):
            raise self.fail(value, origin)
        module_name, _, path = value.strip().partition(":")
        if not module_name or not path:
            raise self.fail(value, origin)
        try:
            found: object = importlib.import_module(module_name)
            for attribute in path.split("."):
                found = getattr(found, attribute)
        except (ImportError, AttributeError) as error:
            raise ConfigError(
                f"{describe(origin, value)}: expected {self.expected} ({error})"
            ) from None
        if not callable(found):
            raise self.fail(value, origin)
        return found


class NumberOrOff(Number):
    """A number in ``[low, high]``, or ``off`` (returned as None) to turn the feature off."""

    def __init__(self, *, low: float, high: float = math.inf, low_open: bool = False) -> None:
        """Accept numbers in the range and the word ``off``."""
        super().__init__(low=low, high=high, low_open=low_open)
        self.expected += " or off"

    def __call__(self, value: object, origin: str) -> float | None:  # type: ignore[override]
        """Return the number, or None for ``off``."""
        if isinstance(value, str) and value.strip().lower() == "off":
            return None
        return super().__call__(value, origin)


class Flag(Coerce[bool]):
    """A boolean: True/False in code; ``true/false``, ``on/off``, ``1/0``, ``yes/no`` as text."""

    expected = "true or false (also on/off, 1/0, yes/no)"
    _WORDS: ClassVar[Mapping[str, bool]] = {
        **dict.fromkeys(("true", "on", "1", "yes"), True),
        **dict.fromkeys(("false", "off", "0", "no"), False),
    }

    def __call__(self, value: object, origin: str) -> bool:
        """Return the boolean."""
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in self._WORDS:
            return self._WORDS[value.strip().lower()]
        raise self.fail(value, origin)

"""Every otelperf setting, declared once, and how a value is found for it.

Precedence: ``configure()`` keyword > ``OTELPERF_<NAME>`` environment variable > the standard
``OTEL_*`` equivalent, if the setting has one > the default. ``None`` as a keyword and an empty
environment variable both mean "not given". Every value is checked here, once; a bad one raises
:class:`~otelperf.ConfigError` naming where it came from, the value and what is expected.

The README's settings table is generated from :data:`SETTINGS` (:func:`markdown_table`),
so documentation and behaviour cannot drift apart (a test compares them).
"""

from __future__ import annotations

import dataclasses
import importlib
import math
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from importlib.metadata import entry_points
from typing import Any, Generic, TypeVar

from otelperf._errors import ConfigError, describe
from otelperf.alerts import AlertSink, LogSink, parse_alert_sinks
from otelperf.budgets import Budget, coerce_budgets

__all__ = ["Settings", "describe", "env_name", "markdown_table", "resolve", "source_of"]

T = TypeVar("T")

# A function that, given the environment, returns the name of the standard OTEL_* variable that
# stands for this setting right now, or None (some apply only in context, e.g. the sampler arg).
OtelLookup = Callable[[Mapping[str, str]], "str | None"]


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
        if high == math.inf:
            self.expected = f"a number {'>' if low_open else '>='} {low:g}"
        else:
            self.expected = f"a number between {low:g} and {high:g}"

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


def _exporter_names() -> frozenset[str]:
    # The names the SDK's own configurator accepts: every registered span exporter entry point,
    # plus "otlp", which picks gRPC or HTTP from OTEL_EXPORTER_OTLP_PROTOCOL.
    registered = entry_points(group="opentelemetry_traces_exporter")
    return frozenset(ep.name for ep in registered) | {"otlp"}


def _plain(name: str) -> OtelLookup:
    return lambda environ: name


def _sampler_arg(environ: Mapping[str, str]) -> str | None:
    # OTEL_TRACES_SAMPLER_ARG is a ratio only for the ratio samplers (OTel SDK env spec).
    sampler = environ.get("OTEL_TRACES_SAMPLER", "").strip()
    return "OTEL_TRACES_SAMPLER_ARG" if sampler.endswith("traceidratio") else None


def _setting(
    default: Any,
    doc: str,
    coerce: Coerce[Any],
    otel: OtelLookup | None = None,
    *,
    shown: str | None = None,
) -> Any:
    # shown: how the README table writes the default when it is not plain text.
    metadata = {"doc": doc, "coerce": coerce, "otel": otel, "shown": shown}
    return field(default=default, metadata=metadata)


_DEFAULT_ALERTS: tuple[AlertSink, ...] = (LogSink(),)  # LogSink holds no state: safe to share


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """otelperf's resolved settings. Frozen; build one with :func:`resolve`."""

    service_name: str | None = _setting(
        None,
        "Service name for the resource (`service.name`). Unset: the SDK's resource detection "
        "(`OTEL_RESOURCE_ATTRIBUTES`, else `unknown_service`).",
        Text(),
        _plain("OTEL_SERVICE_NAME"),
    )
    sample_ratio: float | None = _setting(
        None,
        "Head-sampling ratio in [0, 1] for exported traces (parent-based). Unset: the SDK's "
        "`OTEL_TRACES_SAMPLER`, else always on.",
        Number(low=0.0, high=1.0),
        _sampler_arg,
    )
    exporters: tuple[str, ...] = _setting(
        ("otlp",),
        "Span and metric exporters by entry-point name (`otlp`, `console`, ... or `none`). "
        "`otlp` uses gRPC or HTTP per `OTEL_EXPORTER_OTLP_PROTOCOL`.",
        Names(_exporter_names, "exporter names"),
        _plain("OTEL_TRACES_EXPORTER"),
    )
    measure_unsampled: str = _setting(
        "all",
        "Which spans the head sampler drops are still measured for percentiles (recorded, not "
        "exported): `all`, `roots` (local entry spans only; cheaper for deep traces) or `none`.",
        Choice("all", "roots", "none"),
    )
    window_s: float = _setting(
        60.0,
        "Sliding window, in seconds, of `otelperf.stats()` (6 sub-windows).",
        Number(low=0.0, low_open=True),
    )
    max_operations: int = _setting(
        2000,
        "Cap on distinct operation keys; spans of further operations are folded into "
        '`otelperf.other` and counted in `otelperf.dropped{reason="max_operations"}`.',
        Integer(low=1),
    )
    key_attributes: tuple[str, ...] = _setting(
        (),
        "Span attributes appended to the span name to form the operation key, e.g. "
        "`http.response.status_code` gives `GET /users {http.response.status_code=200}`.",
        TextList(),
    )
    budgets: tuple[Budget, ...] = _setting(
        (),
        "Performance budgets and SLOs: budget strings (`GET /users p99<250ms`, "
        "`POST /orders 99%<400ms over 30d`), preset names (`interactive`, `rendering`, "
        "`background`, `strict`, `relaxed`) or `Budget` objects; `;`-separated in the "
        "environment. Latency and error-rate budgets are judged on the live window: their "
        "`over`, if any, must equal `window_s`. See `otelperf.budget_report()`.",
        Budgets(),
        shown="(none)",
    )
    alerts: tuple[AlertSink, ...] = _setting(
        _DEFAULT_ALERTS,
        "Where budget, SLO and regression alerts go, comma-separated: `log` (the "
        "`otelperf.alerts` logger), `webhook:<url>`, `callback:<module>:<function>`, or `none`; "
        "in code also sink objects and callables taking an `Alert`. Sinks run on background "
        "threads, never on the request thread.",
        AlertSinks(),
        shown="log",
    )
    alert_interval_s: float = _setting(
        60.0,
        "Minimum seconds between two alerts about the same budget and operation; changes "
        "held back are sent later if they still stand.",
        Number(low=0.0, low_open=True),
    )
    regression_factor: float | None = _setting(
        2.0,
        "Alert (`regression`) when an operation no budget covers has a window p95 above this "
        "many times its own baseline (an EWMA of past sub-windows, learned after ~2 minutes "
        "of traffic); `off` disables regression detection.",
        FactorOrOff(low=1.0),
    )
    slow_ms: float | None = _setting(
        None,
        "Per-span threshold in ms: spans at least this long are passed to `on_slow` "
        "(rate-limited per operation). Unset: no per-span check.",
        Number(low=0.0, low_open=True),
    )
    very_slow_ms: float | None = _setting(
        None,
        "Per-span threshold in ms (>= `slow_ms`): such spans go to `on_slow` even when slow "
        "ones are being rate-limited, and are logged as a WARNING at most once per operation "
        "per `alert_interval_s`.",
        Number(low=0.0, low_open=True),
    )
    on_slow: Callable[..., object] | None = _setting(  # noqa: RUF009 - it returns a field()
        None,
        "Called as `on_slow(span_name, duration_ms, trace_id_hex)` for spans over `slow_ms` "
        "or `very_slow_ms`, on a background thread, at most once per operation and threshold "
        "per second. The environment names it as `module:function`.",
        Function("(span_name, duration_ms, trace_id_hex)"),
    )


SETTINGS: tuple[dataclasses.Field[Any], ...] = fields(Settings)


def env_name(name: str) -> str:
    """Return the ``OTELPERF_*`` variable for the setting ``name``."""
    return "OTELPERF_" + name.upper()


def resolve(given: Mapping[str, object], environ: Mapping[str, str]) -> Settings:
    """Resolve every setting from keywords, then ``OTELPERF_*``, then ``OTEL_*``, then defaults.

    Args:
        given: ``configure()`` keywords; ``None`` means not given.
        environ: The environment (tests pass a plain dict).

    Raises:
        ConfigError: An unknown keyword, or a value that fails its check.
    """
    known = {f.name for f in SETTINGS}
    if unknown := sorted(set(given) - known):
        raise ConfigError(
            f"configure() got unknown setting(s) {', '.join(unknown)}: expected one of "
            f"{', '.join(sorted(known))}"
        )
    picked: dict[str, Any] = {}
    origins: dict[str, tuple[str, object]] = {}
    for f in SETTINGS:
        coerce: Coerce[Any] = f.metadata["coerce"]
        otel: OtelLookup | None = f.metadata["otel"]
        if (value := given.get(f.name)) is not None:
            origins[f.name] = (f"configure({f.name}=...)", value)
            picked[f.name] = coerce(value, f"configure({f.name}=...)")
            continue
        for var in (env_name(f.name), otel(environ) if otel else None):
            if var and environ.get(var, "").strip():
                origins[f.name] = (var, environ[var])
                picked[f.name] = coerce(environ[var], var)
                break
    settings = Settings(**picked)
    _check_together(settings, origins)
    return settings


def _check_together(settings: Settings, origins: Mapping[str, tuple[str, object]]) -> None:
    """Check the rules that involve two settings; the error names the one that breaks them."""
    very_slow_ms, slow_ms = settings.very_slow_ms, settings.slow_ms
    if very_slow_ms is not None and slow_ms is not None and very_slow_ms < slow_ms:
        origin, value = origins["very_slow_ms"]
        raise ConfigError(f"{describe(origin, value)}: expected a number >= slow_ms ({slow_ms:g})")
    if settings.on_slow is not None and slow_ms is None and very_slow_ms is None:
        origin, value = origins["on_slow"]
        raise ConfigError(
            f"{describe(origin, value)}: expected slow_ms or very_slow_ms to be set too "
            "(on_slow is called for spans over them)"
        )
    # Budgets are judged on the live window only (it is the one window the store keeps); a
    # budget asking for another one would sit in insufficient_data forever, so refuse it now.
    for budget in settings.budgets:
        if budget.is_slo or budget.window_s in (None, settings.window_s):
            continue
        origin, _ = origins["budgets"]
        raise ConfigError(
            f"{origin}: {budget.text!r}: expected no 'over' or an 'over' "
            f"equal to window_s ({settings.window_s:g} s): latency and error-rate budgets are "
            "judged on the live window; set window_s to judge them over a longer one"
        )


def source_of(name: str, given: Mapping[str, object], environ: Mapping[str, str]) -> str:
    """Return where setting ``name`` comes from: ``kwarg``, a variable name or ``default``."""
    f = next(f for f in SETTINGS if f.name == name)
    if given.get(name) is not None:
        return "kwarg"
    otel: OtelLookup | None = f.metadata["otel"]
    for var in (env_name(name), otel(environ) if otel else None):
        if var and environ.get(var, "").strip():
            return var
    return "default"


def markdown_table() -> str:
    """Return the README settings table, one row per setting."""
    rows = [
        "| keyword | env var | standard equivalent | default | meaning |",
        "|---|---|---|---|---|",
    ]
    for f in SETTINGS:
        otel: OtelLookup | None = f.metadata["otel"]
        otel_name = (otel({"OTEL_TRACES_SAMPLER": "traceidratio"}) if otel else None) or "—"
        default = f.metadata["shown"] or f.default
        if isinstance(default, tuple):
            default = ",".join(default)
        shown = "unset" if default is None else default if default != "" else "(none)"
        name, env = f"`{f.name}`", f"`{env_name(f.name)}`"
        rows.append(f"| {name} | {env} | `{otel_name}` | `{shown}` | {f.metadata['doc']} |")
    return "\n".join(rows)

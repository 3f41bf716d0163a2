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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from importlib.metadata import entry_points
from typing import Any

from otelperf._coerce import (
    AlertSinks,
    Budgets,
    Choice,
    Coerce,
    FactorOrOff,
    Flag,
    Function,
    Integer,
    Names,
    Number,
    NumberOrOff,
    Text,
    TextList,
)
from otelperf._errors import ConfigError, describe
from otelperf._otlp_presets import PRESETS
from otelperf.alerts import AlertSink, LogSink
from otelperf.budgets import Budget, window_problem

__all__ = [
    "LEAK_MIN_SAMPLES",
    "Settings",
    "describe",
    "env_name",
    "markdown_table",
    "resolve",
    "source_of",
]

# A function that, given the environment, returns the name of the standard OTEL_* variable that
# stands for this setting right now, or None (some apply only in context, e.g. the sampler arg).
OtelLookup = Callable[[Mapping[str, str]], "str | None"]


def _exporter_names() -> frozenset[str]:
    # Every registered span or metric exporter entry point ("datadog" sends metrics only),
    # plus "otlp", which picks gRPC or HTTP from OTEL_EXPORTER_OTLP_PROTOCOL.
    groups = ("opentelemetry_traces_exporter", "opentelemetry_metrics_exporter")
    return frozenset(ep.name for g in groups for ep in entry_points(group=g)) | {"otlp"}


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
# Upper bounds of durations: far beyond any sensible use, and within what the threads'
# nanosecond arithmetic and timers accept.
_DAY_S = 86_400.0
#: Memory samples ``leak_window_s`` must hold: the growth analyzer needs 24 (its min_samples);
#: 30 leaves room for the jitter of a busy memory thread and for samples lost to failures.
LEAK_MIN_SAMPLES = 30
_WEEK_S = 7 * _DAY_S


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
        "Span and metric exporters by entry-point name (`otlp`, `console`, `sentry`, "
        "`datadog`, `newrelic`, ... or `none`). `otlp` uses gRPC or HTTP per "
        "`OTEL_EXPORTER_OTLP_PROTOCOL`.",
        Names(_exporter_names, "exporter names"),
        _plain("OTEL_TRACES_EXPORTER"),
    )
    otlp_preset: str | None = _setting(
        None,
        "Send OTLP straight to a vendor's own intake: `sentry` (traces to the `SENTRY_DSN` "
        "project with `X-Sentry-Auth`; Sentry takes no OTLP metrics) or `newrelic` (traces and "
        "metrics to `otlp.nr-data.net`, `api-key` from `NEW_RELIC_LICENSE_KEY`, "
        "`NEW_RELIC_REGION=eu` for the EU; gzip, delta). Fills in only the "
        "`OTEL_EXPORTER_OTLP_*` variables left unset. Unset: plain OTLP.",
        Choice(*PRESETS),
    )
    measure_unsampled: str = _setting(
        "all",
        "Which spans the head sampler drops are still measured for percentiles (recorded, not "
        "exported): `all`, `roots` (local entry spans only; cheaper for deep traces) or `none`.",
        Choice("all", "roots", "none"),
    )
    window_s: float = _setting(
        60.0,
        "Sliding window, in seconds, of `otelperf.stats()` (6 sub-windows), from 0.6 s (a 0.1 s "
        "sub-window, the aggregator's drain period) to 7 days.",
        Number(low=0.6, high=_WEEK_S),
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
        "environment. Latency and error-rate budgets are judged on the live window, or over "
        "their own `over` window (one sub-window to 6 h, at most 4 lengths). See "
        "`otelperf.budget_report()`.",
        Budgets(),
        shown="(none)",
    )
    alerts: tuple[AlertSink, ...] = _setting(
        _DEFAULT_ALERTS,
        "Where budget, SLO, regression, leak and span-leak alerts go, comma-separated: `log` "
        "(the `otelperf.alerts` logger), `webhook:<url>`, `callback:<module>:<function>`, "
        "`sentry`, `datadog`, `newrelic`, or `none`; in code also sink objects and callables "
        "taking an `Alert`. Sinks run on background threads, never on the request thread.",
        AlertSinks(),
        shown="log",
    )
    alert_interval_s: float = _setting(
        60.0,
        "Minimum seconds between two alerts about the same budget and operation; changes "
        "held back are sent later if they still stand.",
        Number(low=0.0, high=_WEEK_S, low_open=True),
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
    tail_sampling: str = _setting(
        "auto",
        "`on`: buffer each local trace until its root ends and export it when it has an "
        "error, a span over `slow_ms` or its budget, a root slower than its operation's live "
        "p99, was head-sampled, or its operation had no kept trace for `floor_interval_s`. "
        "`auto`: on when `sample_ratio` < 1 and `measure_unsampled=all`. `on` needs "
        "`measure_unsampled=all`. Sees only this process's part of a trace.",
        Choice("auto", "on", "off"),
    )
    tail_max_traces: int = _setting(
        10_000,
        "Most local traces the tail sampler buffers at once; when it is full the oldest one is "
        "decided early on the spans it has.",
        Integer(low=1),
    )
    tail_max_spans_per_trace: int = _setting(
        1_000,
        "Most spans buffered for one trace; spans beyond it are dropped and counted "
        "(`otelperf.dropped`).",
        Integer(low=1),
    )
    tail_wait_s: float = _setting(
        30.0,
        "Seconds a buffered trace waits for its local root to end before it is decided anyway.",
        Number(low=0.0, high=3600.0, low_open=True),
    )
    floor_interval_s: float = _setting(
        60.0,
        "With tail sampling, keep at least one trace per operation per this many seconds, so "
        "every operation has a recent example.",
        Number(low=0.0, high=_WEEK_S, low_open=True),
    )
    memory_interval_s: float | None = _setting(
        10.0,
        "Seconds between two memory samples (RSS/VMS, Python heap, GC) on the `otelperf-memory` "
        "thread, which feed `process.memory.*`, `otelperf.memory.growth_rate` and leak "
        "detection; `off` stops the thread.",
        NumberOrOff(low=0.1),
    )
    leak_window_s: float = _setting(
        3600.0,
        "Seconds of memory history the growth trend (Theil-Sen over the RSS floor) is computed "
        "on; a leak needs growth sustained over the whole window. The first twelfth of it (at "
        "most 5 minutes) after start-up is warm-up and ignored. Must hold at least 30 samples "
        "(`leak_window_s >= 30 x memory_interval_s`).",
        Number(low=10.0, high=30 * _DAY_S),
    )
    leak_min_growth_mb_per_h: float = _setting(
        10.0,
        "Sustained RSS growth, in MiB per hour, below which memory is never called growing or "
        "leaking.",
        Number(low=0.0),
    )
    leak_deep: bool = _setting(
        False,
        "Deep mode: tracemalloc snapshots and object-type counts name the growing lines "
        "(`file:line`) and types in `leak` alerts. Costly: every allocation of the process "
        "gets slower while it is on; use it to find a leak, not always.",
        Flag(),
    )
    span_leak_after_s: float | None = _setting(
        300.0,
        "Spans started and still not ended after this many seconds are reported "
        "(`otelperf.spans.unfinished`, a `span_leak` alert); `off` stops tracking open spans.",
        NumberOrOff(low=0.0, high=_WEEK_S, low_open=True),
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
    if settings.tail_sampling == "on" and settings.measure_unsampled != "all":
        origin, value = origins["measure_unsampled"]
        raise ConfigError(
            f"{describe(origin, value)}: expected 'all' when tail_sampling is 'on' "
            "(the tail sampler must see every span of the requests the head sampler drops)"
        )
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
    _check_leak_window(settings, origins)
    # A budget's own `over` window is kept from closed sub-windows, in bounded memory: refuse
    # now the windows that cannot be kept (shorter than a sub-window, over 6 h, too many lengths).
    problem = window_problem(settings.budgets, live_window_s=settings.window_s)
    if problem is not None:
        budget, expected = problem
        origin, _ = origins["budgets"]
        raise ConfigError(f"{origin}: {budget.text!r}: expected {expected}")


def _check_leak_window(settings: Settings, origins: Mapping[str, tuple[str, object]]) -> None:
    """Refuse a leak window that cannot hold :data:`LEAK_MIN_SAMPLES` memory samples.

    The error names ``leak_window_s`` where it came from when it was given, else
    ``memory_interval_s`` (the default window is then what the interval breaks).
    """
    interval_s, window_s = settings.memory_interval_s, settings.leak_window_s
    if interval_s is None or window_s >= LEAK_MIN_SAMPLES * interval_s:
        return
    why = "or the growth trend never gets enough samples to judge a leak"
    if "leak_window_s" in origins:
        origin, value = origins["leak_window_s"]
        given = origins.get("memory_interval_s")
        source = f"from {given[0]}" if given else "the default"
        raise ConfigError(
            f"{describe(origin, value)}: expected at least {LEAK_MIN_SAMPLES} x "
            f"memory_interval_s = {LEAK_MIN_SAMPLES * interval_s:g} s (memory_interval_s is "
            f"{interval_s:g}, {source}), {why}"
        )
    origin, value = origins["memory_interval_s"]
    raise ConfigError(
        f"{describe(origin, value)}: expected at most leak_window_s / {LEAK_MIN_SAMPLES} = "
        f"{window_s / LEAK_MIN_SAMPLES:g} s (leak_window_s is {window_s:g}, the default), {why}"
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

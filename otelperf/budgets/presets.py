"""Ready-made budgets with documented numbers, and ``budget_preset`` to derive your own.

Every number below comes from public guidance on what people perceive, or from the Google SRE
workbook's alerting chapter; where a number is engineering judgement it says so.

- **RAIL** (web.dev, Chrome team): a visible response to input within 100 ms, so the work for it
  should take at most 50 ms.
- **Core Web Vitals** (web.dev): INP is "good" up to 200 ms and LCP up to 2.5 s, both judged at the
  75th percentile of page loads; web.dev calls a time-to-first-byte up to 0.8 s "good".
- **Nielsen's response-time limits** (Nielsen Norman Group, after Miller 1968): 0.1 s feels
  instantaneous, 1 s keeps the user's flow of thought, 10 s is the limit of attention.
- **SRE workbook, "Alerting on SLOs"**: multi-window burn-rate alerts for a 30-day SLO, paging at
  burn rate 14.4 (2 % of the error budget in 1 h) and ticketing at 6 (5 % in 6 h); its examples
  use a 99.9 % objective.

Sample minimums: percentile budgets keep the default ``min 20`` (the smallest count for which
p95 is not the maximum); p99 budgets use ``min 100`` for the same reason; error-rate budgets
need about two expected errors at the threshold before one unlucky request can breach
(``min 200`` for 1 %), and use wider severity ratios (``error 2x critical 5x``) because counts
of rare events jump in steps.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

from otelperf._errors import ConfigError
from otelperf.budgets.budget import QUANTILES, SLO, Budget, field_problem

__all__ = [
    "BACKGROUND_BUDGETS",
    "BUDGET_PRESETS",
    "INTERACTIVE_BUDGETS",
    "RELAXED_BUDGETS",
    "RENDERING_BUDGETS",
    "STRICT_BUDGETS",
    "budget_preset",
]

_SERVER = "kind=server"

INTERACTIVE_BUDGETS: tuple[Budget, ...] = (
    Budget(selector=_SERVER, statistic="p75", threshold=200.0,
           impact="interactions feel sluggish (INP good <= 200 ms at p75)"),
    Budget(selector=_SERVER, statistic="p99", threshold=1000.0, min_samples=100,
           impact="the slowest users lose their flow of thought (Nielsen: 1 s)"),
    Budget(selector=_SERVER, statistic="error_rate", threshold=0.01, min_samples=200,
           error_ratio=2.0, critical_ratio=5.0,
           impact="more than 1 in 100 requests fail"),
)  # fmt: skip
"""User-facing server spans: ``kind=server p75<200ms``, ``p99<1s min 100``, ``error_rate<1%``.

p75 under 200 ms because a request on an interaction's path must fit inside INP's "good" 200 ms,
judged at p75 like Core Web Vitals; p99 under 1 s (Nielsen's flow-of-thought limit);
at most 1 % errors (``min 200 error 2x critical 5x``, see the module docstring).
"""

RENDERING_BUDGETS: tuple[Budget, ...] = (
    Budget(selector="*render*", statistic="p75", threshold=50.0,
           impact="pages miss RAIL's 100 ms response (render work <= 50 ms)"),
    Budget(selector="*render*", statistic="p99", threshold=800.0, min_samples=100,
           impact="slow renders alone use up a good TTFB (<= 0.8 s)"),
)  # fmt: skip
"""Template and render spans (names containing ``render``, e.g. ``jinja2.render``).

``p75<50ms``: RAIL's 50 ms of work per response, so a server-rendered page can still answer
within 100 ms; ``p99<800ms min 100``: a render is part of time-to-first-byte, whose "good" limit
is 0.8 s, so the render tail alone must not use all of it.
"""

BACKGROUND_BUDGETS: tuple[Budget, ...] = (
    Budget(selector="kind=consumer", statistic="p95", threshold=10_000.0,
           impact="users waiting on a job's result give up (Nielsen: 10 s)"),
    Budget(selector="kind=consumer", statistic="p99", threshold=60_000.0, min_samples=100,
           impact="jobs back up behind slow ones"),
    Budget(selector="kind=consumer", statistic="error_rate", threshold=0.05, min_samples=100,
           error_ratio=2.0, critical_ratio=4.0, impact="retries are being used up"),
    Budget(selector="kind=producer", statistic="p99", threshold=100.0, min_samples=100,
           impact="enqueueing slows the requests that publish (RAIL: 100 ms)"),
)  # fmt: skip
"""Consumers, tasks and batch work, plus the producers that enqueue them.

Consumers: ``p95<10s`` (Nielsen's 10 s attention limit, for jobs a person waits on),
``p99<60s min 100`` (engineering judgement: a minute-long tail means a backlog or a stuck
dependency), ``error_rate<5% min 100 error 2x critical 4x`` (engineering judgement: tasks retry,
so a few percent of failed attempts is normal). Producers: ``p99<100ms min 100``, because
publishing sits on the request path and must fit in RAIL's 100 ms.
"""

STRICT_BUDGETS: tuple[Budget, ...] = (
    Budget(selector=_SERVER, statistic="p50", threshold=50.0,
           impact="typical requests exceed RAIL's 50 ms of work"),
    Budget(selector=_SERVER, statistic="p99", threshold=200.0, min_samples=100,
           impact="the tail exceeds INP's good 200 ms"),
    Budget(selector=_SERVER, statistic="error_rate", threshold=0.001, min_samples=2000,
           error_ratio=2.0, critical_ratio=5.0,
           impact="more than 1 in 1000 requests fail"),
    Budget(selector=_SERVER, statistic=SLO, threshold=200.0, objective=0.999,
           window_s=30 * 86400.0, impact="the 30-day latency SLO is burning"),
    Budget(selector="kind=client", statistic="p99", threshold=100.0, min_samples=100,
           impact="downstream calls eat the server's 200 ms tail budget"),
)  # fmt: skip
"""Latency-critical APIs: ``p50<50ms`` (RAIL), ``p99<200ms min 100`` (INP), ``error_rate<0.1%``,
the SLO ``99.9%<200ms over 30d`` (the SRE workbook's example objective, alerted on its burn-rate
pairs) and ``kind=client p99<100ms`` so outgoing calls leave room in the 200 ms tail.
"""

RELAXED_BUDGETS: tuple[Budget, ...] = (
    Budget(selector=_SERVER, statistic="p95", threshold=1000.0,
           impact="most users lose their flow of thought (Nielsen: 1 s)"),
    Budget(selector=_SERVER, statistic="p99", threshold=2500.0, min_samples=100,
           impact="the tail alone exceeds a good LCP (2.5 s)"),
    Budget(selector=_SERVER, statistic="error_rate", threshold=0.05, min_samples=100,
           error_ratio=2.0, critical_ratio=4.0, impact="more than 1 in 20 requests fail"),
    Budget(selector=_SERVER, statistic=SLO, threshold=2500.0, objective=0.99,
           window_s=30 * 86400.0, impact="the 30-day latency SLO is burning"),
)  # fmt: skip
"""Internal tools and new services: ``p95<1s`` (Nielsen), ``p99<2.5s min 100`` (LCP's good
limit), ``error_rate<5%`` and the SLO ``99%<2.5s over 30d`` alerted on burn rate.
"""

BUDGET_PRESETS: Mapping[str, tuple[Budget, ...]] = MappingProxyType(
    {
        "interactive": INTERACTIVE_BUDGETS,
        "rendering": RENDERING_BUDGETS,
        "background": BACKGROUND_BUDGETS,
        "strict": STRICT_BUDGETS,
        "relaxed": RELAXED_BUDGETS,
    }
)
"""Preset names accepted in budget strings (``OTELPERF_BUDGETS="interactive; ..."``)."""

_REPLACED = ("selector", "min_samples", "impact", "owner")
_NOT_SLO = ("window_s", "warning_ratio", "error_ratio", "critical_ratio")
_THRESHOLDS = {f"{name}_ms": name for name in (*QUANTILES, "avg", "max")}
_THRESHOLDS |= {"error_rate": "error_rate", "slo_ms": SLO}
_KEYS = (*_REPLACED, *_NOT_SLO, *_THRESHOLDS, "scale", "objective")


def budget_preset(base: Iterable[Budget], /, **overrides: object) -> tuple[Budget, ...]:
    """Derive budgets from a preset, e.g. ``budget_preset(INTERACTIVE_BUDGETS, p99_ms=500)``.

    Overrides:
        selector, min_samples, impact, owner: replace that field in every budget.
        window_s, warning_ratio, error_ratio, critical_ratio: replace it in every non-SLO budget
            (an SLO's window is its compliance period; its severity comes from burn rates).
        p50_ms, p75_ms, p90_ms, p95_ms, p99_ms, p999_ms, avg_ms, max_ms, slo_ms: the threshold,
            in ms, of the budgets with that statistic (``slo_ms``: the SLO latency threshold).
        error_rate: the threshold of ``error_rate`` budgets, as a fraction (0.02 = 2 %).
        objective: the objective of SLO budgets, as a fraction (0.995).
        scale: multiply every latency threshold not set explicitly above (1.5 = 50 % looser).

    Args:
        base: The budgets to start from (a preset tuple or any budgets).
        **overrides: As listed above.

    Returns:
        The derived budgets, in the order of ``base``.

    Raises:
        ConfigError: An unknown override, a bad value, or a threshold for a statistic that
            ``base`` does not have (a typo would otherwise change nothing).
    """
    budgets = tuple(base)
    for budget in budgets:
        if not isinstance(budget, Budget):
            raise ConfigError(f"budget_preset(base): expected Budget objects, got {budget!r}")
    for key, value in overrides.items():
        _check_override(key, value, budgets)
    scale = overrides.get("scale", 1.0)
    scale = float(scale) if isinstance(scale, (int, float)) else 1.0
    derived = []
    for budget in budgets:
        try:
            derived.append(dataclasses.replace(budget, **_changes(budget, overrides, scale)))
        except ConfigError as exc:
            given = ", ".join(f"{key}={value!r}" for key, value in overrides.items())
            raise ConfigError(f"budget_preset({given}) on {budget.text!r}: {exc}") from None
    return tuple(dict.fromkeys(derived))


def _check_override(key: str, value: object, budgets: tuple[Budget, ...]) -> None:
    origin = f"budget_preset({key}={value!r})"
    if key not in _KEYS:
        raise ConfigError(f"{origin}: expected an override among {', '.join(_KEYS)}")
    if key in _REPLACED or key in _NOT_SLO:
        problem = field_problem(key, value)
    else:
        # Every other override is a threshold, objective or scale: a finite number above 0.
        problem = field_problem("threshold", value)
        if isinstance(value, (int, float)) and key == "objective" and value >= 1:
            problem = "a fraction below 1"
        if isinstance(value, (int, float)) and key == "error_rate" and value > 1:
            problem = "a fraction at most 1"
    if problem is not None:
        raise ConfigError(f"{origin}: expected {problem}")
    wanted = SLO if key == "objective" else _THRESHOLDS.get(key)
    present = {budget.statistic for budget in budgets}
    if wanted is not None and wanted not in present:
        names = ", ".join(k for k, statistic in _THRESHOLDS.items() if statistic in present)
        raise ConfigError(f"{origin}: expected a statistic the budgets have ({names})")


def _changes(budget: Budget, overrides: Mapping[str, object], scale: float) -> dict[str, Any]:
    changes: dict[str, Any] = {key: overrides[key] for key in _REPLACED if key in overrides}
    if not budget.is_slo:
        changes |= {key: overrides[key] for key in _NOT_SLO if key in overrides}
    explicit = next(k for k, statistic in _THRESHOLDS.items() if statistic == budget.statistic)
    if explicit in overrides:
        changes["threshold"] = overrides[explicit]
    elif budget.statistic != "error_rate":
        changes["threshold"] = budget.threshold * scale
    if budget.is_slo and "objective" in overrides:
        changes["objective"] = overrides["objective"]
    return changes

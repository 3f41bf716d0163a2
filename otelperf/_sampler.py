"""The head sampler otelperf installs: ``sample_ratio`` or the standard ``OTEL_TRACES_SAMPLER``."""

from __future__ import annotations

from collections.abc import Mapping
from importlib.metadata import entry_points

from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    ParentBased,
    Sampler,
    TraceIdRatioBased,
)

from otelperf._errors import ConfigError
from otelperf._settings import Settings

__all__ = ["head_sampler"]

_FIXED: dict[str, Sampler] = {
    "always_on": ALWAYS_ON,
    "always_off": ALWAYS_OFF,
    "parentbased_always_on": ParentBased(ALWAYS_ON),
    "parentbased_always_off": ParentBased(ALWAYS_OFF),
}


def head_sampler(settings: Settings, environ: Mapping[str, str]) -> Sampler:
    """Return the head sampler: a ratio from ``sample_ratio``, else ``OTEL_TRACES_SAMPLER``.

    Raises:
        ConfigError: ``OTEL_TRACES_SAMPLER`` names no known sampler or its argument is invalid.
    """
    name = environ.get("OTEL_TRACES_SAMPLER", "").strip()
    if settings.sample_ratio is not None:
        ratio = TraceIdRatioBased(settings.sample_ratio)
        # Only an explicit non-parent-based choice drops the parent-based wrapper.
        return ratio if name == "traceidratio" else ParentBased(ratio)
    if not name:
        return ParentBased(ALWAYS_ON)
    if name in _FIXED:
        return _FIXED[name]
    if name in ("traceidratio", "parentbased_traceidratio"):
        # Reached only when OTEL_TRACES_SAMPLER_ARG is unset: the spec's default ratio is 1.0.
        ratio = TraceIdRatioBased(1.0)
        return ratio if name == "traceidratio" else ParentBased(ratio)
    for ep in entry_points(group="opentelemetry_traces_sampler"):
        if ep.name == name:
            sampler = ep.load()(environ.get("OTEL_TRACES_SAMPLER_ARG"))
            if isinstance(sampler, Sampler):
                return sampler
    known = ", ".join([*_FIXED, "traceidratio", "parentbased_traceidratio"])
    raise ConfigError(
        f"OTEL_TRACES_SAMPLER={name!r}: expected one of {known} "
        "or a sampler registered under the 'opentelemetry_traces_sampler' entry point"
    )

"""The head sampler otelperf installs: ``sample_ratio`` or the standard ``OTEL_TRACES_SAMPLER``.

Ratio sampling uses :class:`ThresholdRatioSampler`, the ``TraceIdRatioBased`` algorithm of the
current OpenTelemetry specification (consistent probability sampling): a trace is sampled when
the 56-bit randomness of its id is at least the ratio's rejection threshold, and every sampled
span carries that threshold as ``ot=th:…`` in its tracestate, so a backend can count each one as
``1 / ratio`` spans (its adjusted count). The SDK's own ``TraceIdRatioBased`` writes no
threshold and compares other bits of the trace id, so its sampled spans cannot be counted.

Under ``ParentBased``, children follow their parent and inherit its tracestate; a sampled
remote parent whose ``th`` contradicts its trace's randomness has the ``th`` erased (the spec's
consistency check), because a count derived from it would be wrong.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from importlib.metadata import entry_points

from opentelemetry.context import Context
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
)
from opentelemetry.trace import Link, SpanKind, get_current_span
from opentelemetry.trace.span import TraceState
from opentelemetry.util.types import Attributes

from otelperf._errors import ConfigError
from otelperf._settings import Settings
from otelperf._tracestate import (
    DEFAULT_PRECISION,
    randomness_of,
    threshold_for,
    threshold_of,
    with_threshold,
)

__all__ = ["ConsistentParentSampled", "ThresholdRatioSampler", "head_sampler"]

_FIXED: dict[str, Sampler] = {
    "always_on": ALWAYS_ON,
    "always_off": ALWAYS_OFF,
    "parentbased_always_on": ParentBased(ALWAYS_ON),
    "parentbased_always_off": ParentBased(ALWAYS_OFF),
}


def _parent_trace_state(parent_context: Context | None) -> TraceState | None:
    parent = get_current_span(parent_context).get_span_context()
    return parent.trace_state if parent.is_valid else None


class ThresholdRatioSampler(Sampler):
    """Sample ``ratio`` of traces by trace-id randomness and record the threshold (``ot=th``).

    The decision ignores the parent (wrap it in ``ParentBased`` to follow parents). Randomness
    is an explicit ``rv`` in the parent's tracestate, else the low 56 bits of the trace id (the
    SDK's default id generator makes them random). Sampled spans get ``th`` set to this
    sampler's threshold; unsampled ones get it erased. Other tracestate entries are kept, and the
    span's start attributes are returned unchanged. Thread-safe and allocation-free for roots.
    """

    def __init__(self, ratio: float, *, precision: int = DEFAULT_PRECISION) -> None:
        """Sample ``ratio`` of traces (0 samples none; the threshold keeps ``precision`` digits).

        Raises:
            ValueError: ``ratio`` is not a number in [0, 1], or ``precision`` is not in 1..14.
        """
        if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0 <= ratio <= 1:
            raise ValueError(f"ratio must be a number between 0 and 1, got {ratio!r}")
        self._ratio = float(ratio)
        # The smallest probability the 56-bit scheme can express stands in for tinier ratios.
        self._threshold = (
            None if ratio == 0 else threshold_for(max(float(ratio), 2.0**-56), precision=precision)
        )
        # A root has no tracestate: every sampled root shares this one (TraceState is immutable).
        self._root_state = (
            None if self._threshold is None else with_threshold(None, self._threshold)
        )

    @property
    def threshold(self) -> int | None:
        """The 56-bit rejection threshold; None when the ratio is 0 (nothing is sampled)."""
        return self._threshold

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        """Sample when the trace's randomness is at least the threshold; set or erase ``th``."""
        state = trace_state if trace_state is not None else _parent_trace_state(parent_context)
        threshold = self._threshold
        if threshold is not None and randomness_of(trace_id, state) >= threshold:
            new_state = self._root_state if not state else with_threshold(state, threshold)
            return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes, new_state)
        new_state = state if not state else with_threshold(state, None)
        return SamplingResult(Decision.DROP, attributes, new_state)

    def get_description(self) -> str:
        """``TraceIdRatioBased{RATIO}``, the form the specification requires."""
        return f"TraceIdRatioBased{{{self._ratio}}}"


class ConsistentParentSampled(Sampler):
    """For a sampled remote parent: sample, keeping its ``th`` only if it is consistent.

    A sampled context whose randomness is below its own threshold cannot have been sampled by
    that threshold; the specification asks parent-based samplers to erase such a ``th`` so no
    backend derives a wrong count from it. Use as ``ParentBased(remote_parent_sampled=...)``.
    """

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        """Return RECORD_AND_SAMPLE with the parent's tracestate (``th`` erased if inconsistent)."""
        state = _parent_trace_state(parent_context)
        threshold = threshold_of(state)
        if threshold is not None and randomness_of(trace_id, state) < threshold:
            state = with_threshold(state, None)
        return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes, state)

    def get_description(self) -> str:
        """``ConsistentParentSampled``."""
        return "ConsistentParentSampled"


def _parent_based(root: Sampler) -> Sampler:
    return ParentBased(root, remote_parent_sampled=ConsistentParentSampled())


def head_sampler(settings: Settings, environ: Mapping[str, str]) -> Sampler:
    """Return the head sampler: a ratio from ``sample_ratio``, else ``OTEL_TRACES_SAMPLER``.

    Ratios (``sample_ratio``, ``traceidratio``, ``parentbased_traceidratio``) use
    :class:`ThresholdRatioSampler`, parent-based unless ``traceidratio`` was named.

    Raises:
        ConfigError: ``OTEL_TRACES_SAMPLER`` names no known sampler or its argument is invalid.
    """
    name = environ.get("OTEL_TRACES_SAMPLER", "").strip()
    if settings.sample_ratio is not None:
        ratio = ThresholdRatioSampler(settings.sample_ratio)
        # Only an explicit non-parent-based choice drops the parent-based wrapper.
        return ratio if name == "traceidratio" else _parent_based(ratio)
    if not name:
        return ParentBased(ALWAYS_ON)
    if name in _FIXED:
        return _FIXED[name]
    if name in ("traceidratio", "parentbased_traceidratio"):
        # Reached only when OTEL_TRACES_SAMPLER_ARG is unset: the spec's default ratio is 1.0.
        ratio = ThresholdRatioSampler(1.0)
        return ratio if name == "traceidratio" else _parent_based(ratio)
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

"""Sampling: ``MeasureAllSampler`` measures 100 % of traffic while exporting only what is sampled.

``TailSamplingProcessor`` (defined in :mod:`otelperf.processors.tail_sampling`, re-exported here)
then exports the unsampled traces worth keeping (DESIGN §6).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from opentelemetry.context import Context
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.trace import Link, SpanKind, get_current_span
from opentelemetry.trace.span import TraceState
from opentelemetry.util.types import Attributes

from otelperf.processors.tail_sampling import TailSamplingProcessor

__all__ = ["MeasureAllSampler", "MeasureUnsampled", "TailSamplingProcessor"]

MeasureUnsampled = Literal["all", "roots", "none"]


class MeasureAllSampler(Sampler):
    """Turn the inner sampler's DROP into RECORD_ONLY, so processors see spans never exported.

    A RECORD_ONLY span is recorded (its processors' ``on_end`` runs, so percentiles count it) but
    not sampled, so exporters skip it and its children inherit "not sampled" from the W3C trace
    flags: the export decision stays the inner sampler's, parent decisions included.

    ``measure``:
        * ``"all"`` — every dropped span is recorded (percentiles for every operation).
        * ``"roots"`` — only local roots (no parent, or a remote parent: server and consumer entry
          spans) are recorded; their unsampled children are dropped, which is cheaper for deep
          traces and still measures every request.
        * ``"none"`` — plain inner behaviour.
    """

    def __init__(self, inner: Sampler, *, measure: MeasureUnsampled = "all") -> None:
        """Wrap ``inner``.

        Raises:
            ValueError: ``measure`` is not one of ``all``, ``roots``, ``none``.
        """
        if measure not in ("all", "roots", "none"):
            raise ValueError(f"measure must be 'all', 'roots' or 'none', got {measure!r}")
        self._inner = inner
        self._measure = measure

    @property
    def inner(self) -> Sampler:
        """The wrapped sampler that decides what is exported."""
        return self._inner

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
        """Ask the inner sampler; upgrade its DROP to RECORD_ONLY per ``measure``."""
        result = self._inner.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )
        if result.decision is not Decision.DROP or self._measure == "none":
            return result
        if self._measure == "roots":
            parent = get_current_span(parent_context).get_span_context()
            if parent.is_valid and not parent.is_remote:
                return result
        # SDK samplers return no attributes with DROP, and the SDK gives a recorded span only the
        # attributes its sampler returns: pass the start attributes on, or RECORD_ONLY spans
        # would lose them (http.route, key attributes, everything tail sampling exports).
        extra = result.attributes
        kept = extra if not attributes else attributes if not extra else {**attributes, **extra}
        return SamplingResult(Decision.RECORD_ONLY, kept, result.trace_state)

    def get_description(self) -> str:
        """Describe the sampler, e.g. ``MeasureAll{all,ParentBased{...}}``."""
        return f"MeasureAll{{{self._measure},{self._inner.get_description()}}}"

"""A copy of an ended span, marked as kept by the tail sampler.

An ended SDK span is read-only (``set_attribute`` after ``end()`` is ignored with a warning), and
exporting processors skip spans whose context is not sampled. :func:`kept_copy` therefore builds
a new ``ReadableSpan`` through its public constructor: the same fields, attributes plus
``otelperf.sampling.reason``, and a context with the ``sampled`` flag set and any ``ot=th``
threshold erased (the span was kept by a policy, not at random: it has no adjusted count).
Dropped-attribute, event and link counts are carried over. Cost: about one microsecond per
attribute-light span (see ``benchmarks/bench_tail_sampling.py``), paid only for kept spans.
"""

from __future__ import annotations

from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util import BoundedList
from opentelemetry.trace import Link, SpanContext, TraceFlags
from opentelemetry.util.types import AttributeValue

from otelperf._tracestate import threshold_of, with_threshold

__all__ = ["REASON_ATTRIBUTE", "kept_copy"]

REASON_ATTRIBUTE = "otelperf.sampling.reason"
"""Why the tail sampler kept the span: ``error|slow|budget|outlier|head|floor``."""

_SAMPLED = TraceFlags.SAMPLED


def kept_copy(span: ReadableSpan, reason: str) -> ReadableSpan:
    """Return ``span`` as an exportable span carrying ``otelperf.sampling.reason=reason``."""
    context = span.context
    if context is not None and not context.trace_flags.sampled:
        state = context.trace_state
        if threshold_of(state) is not None:
            state = with_threshold(state, None)
        context = SpanContext(
            context.trace_id,
            context.span_id,
            is_remote=context.is_remote,
            trace_flags=TraceFlags(context.trace_flags | _SAMPLED),
            trace_state=state,
        )
    attributes: dict[str, AttributeValue] | BoundedAttributes = dict(span.attributes or {})
    attributes[REASON_ATTRIBUTE] = reason
    if span.dropped_attributes:
        attributes = BoundedAttributes(attributes=attributes)
        attributes.dropped = span.dropped_attributes
    events: tuple[Event, ...] | BoundedList[Event] = span.events  # type: ignore[assignment]
    if span.dropped_events:
        events = BoundedList.from_seq(None, events)
        events.dropped = span.dropped_events
    links: tuple[Link, ...] | BoundedList[Link] = span.links  # type: ignore[assignment]
    if span.dropped_links:
        links = BoundedList.from_seq(None, links)
        links.dropped = span.dropped_links
    return ReadableSpan(
        name=span.name,
        context=context,
        parent=span.parent,
        resource=span.resource,
        attributes=attributes,
        events=events,
        links=links,
        kind=span.kind,
        status=span.status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )

"""Build ``SpanRecord`` records like the receiver decodes them."""

from __future__ import annotations

from types import MappingProxyType

from otelperf._receiver import SpanRecord


def span(name: str, end_ns: int, *, error: bool = False) -> SpanRecord:
    """A server span named ``name`` ending at ``end_ns``, with an error status if asked."""
    return SpanRecord(
        name=name,
        trace_id="1" * 32,
        span_id="2" * 16,
        parent_span_id="",
        kind="SERVER",
        start_unix_ns=end_ns - 1_000_000,
        end_unix_ns=end_ns,
        status_code="ERROR" if error else "UNSET",
        status_message="",
        attributes=MappingProxyType({}),
        resource_attributes=MappingProxyType({}),
        scope_name="test",
        scope_version="",
        event_names=(),
        transport="grpc",
    )

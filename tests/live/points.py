"""Build ``MetricPoint`` records the way the receiver decodes otelperf's exports."""

from __future__ import annotations

from types import MappingProxyType

from otelperf._receiver import MetricPoint
from otelperf._receiver.records import Temporality
from otelperf.aggregates import ExpBuckets, ExpSketch


def duration_point(
    operation: str,
    buckets: ExpBuckets | ExpSketch,
    *,
    start_ns: int,
    time_ns: int,
    service: str = "svc",
    temporality: Temporality = "cumulative",
    kind: str = "server",
) -> MetricPoint:
    """An ``otelperf.operation.duration`` point carrying ``buckets``."""
    b = buckets.buckets() if isinstance(buckets, ExpSketch) else buckets
    return MetricPoint(
        name="otelperf.operation.duration",
        description="",
        unit="s",
        type="exponential_histogram",
        attributes=MappingProxyType({"operation": operation, "span.kind": kind}),
        resource_attributes=MappingProxyType({"service.name": service}),
        scope_name="otelperf",
        transport="grpc",
        start_unix_ns=start_ns,
        time_unix_ns=time_ns,
        temporality=temporality,
        count=b.count,
        sum=b.sum,
        min=b.min,
        max=b.max,
        scale=b.scale,
        zero_count=b.zero_count,
        positive_offset=b.offset,
        positive_bucket_counts=b.counts,
    )

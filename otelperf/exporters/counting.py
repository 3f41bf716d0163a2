"""``CountingSpanExporter``: count the spans an exporter failed to deliver.

The SDK's OTLP exporters log a failed export and return FAILURE; the spans are gone and nothing
counts them. Wrapped in this class, every span of a batch that did not export is added to
``drops`` (reason ``failed``), which ``otelperf.dropped`` reports as
``export_<exporter>_failed``. Exporters that count their own drops (the vendor exporters) are not
wrapped.
"""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from otelperf import _fork
from otelperf.exporters._delivery import Drops

__all__ = ["CountingSpanExporter", "count_drops"]


class CountingSpanExporter(SpanExporter):
    """Delegates to ``inner`` and counts the spans of every batch it did not export."""

    def __init__(self, inner: SpanExporter) -> None:
        """Wrap ``inner``."""
        self.inner = inner
        self.drops = Drops()
        self.drop_name = type(inner).__name__.removesuffix("Exporter").lower()
        self.last_ok = True  # the last export's outcome (read by a bounded shutdown)
        _fork.register(self.drops.reinit)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Export through ``inner``; a FAILURE (or an exception) counts the batch as dropped."""
        try:
            result = self.inner.export(spans)
        except Exception:
            self.last_ok = False
            self.drops.add("failed", len(spans))
            raise
        self.last_ok = result is SpanExportResult.SUCCESS
        if not self.last_ok:
            self.drops.add("failed", len(spans))
        return result

    def shutdown(self) -> None:
        """Shut ``inner`` down."""
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Flush ``inner``."""
        return self.inner.force_flush(timeout_millis)


def count_drops(exporters: Sequence[SpanExporter]) -> list[SpanExporter]:
    """Wrap each exporter that does not count its own drops in :class:`CountingSpanExporter`."""
    return [e if hasattr(e, "drops") else CountingSpanExporter(e) for e in exporters]

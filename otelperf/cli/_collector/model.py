"""The parsed shape of ``service.pipelines`` shared by the structural and graph checks."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Pipeline", "split_id"]


@dataclass(frozen=True, slots=True)
class Pipeline:
    """One entry of ``service.pipelines`` as written (references not yet resolved).

    Attributes:
        id: Pipeline ID, ``signal[/name]``.
        signal: ``traces``, ``metrics``, ``logs`` or ``profiles``.
        receivers: Receiver and connector IDs it receives from, in order.
        processors: Processor IDs, in the order data passes them.
        exporters: Exporter and connector IDs it sends to.
    """

    id: str
    signal: str
    receivers: tuple[str, ...]
    processors: tuple[str, ...]
    exporters: tuple[str, ...]


def split_id(component_id: str) -> tuple[str, str | None]:
    """Split ``type/name`` into ``(type, name)``; ``name`` is ``None`` when there is no ``/``."""
    type_, sep, name = component_id.partition("/")
    return type_, (name if sep else None)

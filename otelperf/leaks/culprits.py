"""Rank what grew between two memory profiles: allocation sites and object types.

Pure: the adapter turns tracemalloc statistics and ``gc.get_objects()`` type counts into plain
mappings; these functions diff them. Both keep only what grew, largest growth first.
"""

from __future__ import annotations

from collections.abc import Mapping

from otelperf.leaks.report import AllocationSite, TypeGrowth

__all__ = ["SiteKey", "SiteStats", "growing_sites", "growing_types"]

SiteKey = tuple[str, int]
"""``(file, line)`` of an allocating frame."""
SiteStats = tuple[int, int]
"""``(size_bytes, count)`` of the blocks alive from one site."""


def growing_sites(
    before: Mapping[SiteKey, SiteStats], after: Mapping[SiteKey, SiteStats], *, limit: int
) -> tuple[AllocationSite, ...]:
    """Sites whose live bytes grew from ``before`` to ``after``, by growth, at most ``limit``.

    A site absent from ``before`` grew from zero. Ties keep a stable order (file, then line).
    """
    grown: list[AllocationSite] = []
    for (file, line), (size, count) in after.items():
        old_size, old_count = before.get((file, line), (0, 0))
        if size > old_size:
            grown.append(
                AllocationSite(
                    file=file,
                    line=line,
                    size_diff_bytes=size - old_size,
                    count_diff=count - old_count,
                    size_bytes=size,
                )
            )
    grown.sort(key=lambda site: (-site.size_diff_bytes, site.file, site.line))
    return tuple(grown[: max(0, limit)])


def growing_types(
    before: Mapping[str, int], after: Mapping[str, int], *, limit: int
) -> tuple[TypeGrowth, ...]:
    """Types whose live instance count grew from ``before`` to ``after``, at most ``limit``."""
    grown = [
        TypeGrowth(type_name=name, count_diff=count - before.get(name, 0), count=count)
        for name, count in after.items()
        if count > before.get(name, 0)
    ]
    grown.sort(key=lambda growth: (-growth.count_diff, growth.type_name))
    return tuple(grown[: max(0, limit)])

"""Ranking the allocation sites and object types that grew."""

from __future__ import annotations

from otelperf.leaks.culprits import growing_sites, growing_types
from otelperf.leaks.report import AllocationSite, TypeGrowth


class TestGrowingSites:
    def test_only_grown_sites_largest_first(self) -> None:
        """Sites that grew are listed by growth; shrunk and unchanged ones are not."""
        before = {("a.py", 1): (100, 1), ("b.py", 2): (500, 5), ("c.py", 3): (50, 1)}
        after = {
            ("a.py", 1): (400, 4),
            ("b.py", 2): (200, 2),
            ("c.py", 3): (50, 1),
            ("d.py", 4): (90, 3),
        }
        assert growing_sites(before, after, limit=5) == (
            AllocationSite(file="a.py", line=1, size_diff_bytes=300, count_diff=3, size_bytes=400),
            AllocationSite(file="d.py", line=4, size_diff_bytes=90, count_diff=3, size_bytes=90),
        )

    def test_limit_cuts_the_list(self) -> None:
        """At most ``limit`` sites come back; ties are ordered by file then line."""
        after = {("b.py", 1): (10, 1), ("a.py", 2): (10, 1), ("a.py", 1): (10, 1)}
        sites = growing_sites({}, after, limit=2)
        assert [(s.file, s.line) for s in sites] == [("a.py", 1), ("a.py", 2)]
        assert growing_sites({}, after, limit=0) == ()


class TestGrowingTypes:
    def test_only_grown_types_largest_first(self) -> None:
        """Types whose count grew are listed by growth, with their current count."""
        before = {"builtins.dict": 10, "app.Session": 5}
        after = {"builtins.dict": 12, "app.Session": 50, "builtins.list": 3}
        assert growing_types(before, after, limit=2) == (
            TypeGrowth(type_name="app.Session", count_diff=45, count=50),
            TypeGrowth(type_name="builtins.list", count_diff=3, count=3),
        )

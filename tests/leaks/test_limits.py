"""Parsing cgroup and /proc text into memory limits."""

from __future__ import annotations

import pytest

from otelperf.leaks.limits import (
    CgroupPaths,
    MemoryLimit,
    cgroup_ancestors,
    parse_cgroup_v1_limit,
    parse_cgroup_v2_max,
    parse_proc_cgroup,
    tightest_limit,
)


class TestCgroupFiles:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("536870912\n", 536870912),
            ("max\n", None),
            ("max", None),
            ("", None),
            ("garbage", None),
            ("0", None),
            ("-1", None),
        ],
    )
    def test_v2_memory_max(self, text: str, expected: int | None) -> None:
        """memory.max is bytes, or 'max' for no limit; anything else is unknown."""
        assert parse_cgroup_v2_max(text) == expected

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("1073741824\n", 1073741824),
            ("9223372036854771712\n", None),  # LONG_MAX rounded to 4 KiB pages: unlimited
            ("9223372036854710272\n", None),  # the same with 64 KiB pages
            ("-1\n", None),
            ("", None),
        ],
    )
    def test_v1_limit_in_bytes(self, text: str, expected: int | None) -> None:
        """memory.limit_in_bytes is bytes; the huge page-rounded LONG_MAX means unlimited."""
        assert parse_cgroup_v1_limit(text) == expected


class TestProcSelfCgroup:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("0::/system.slice/app.service\n", CgroupPaths(v2="/system.slice/app.service")),
            ("0::/\n", CgroupPaths(v2="/")),
            (
                "12:pids:/docker/abc\n4:memory:/docker/abc\n1:name=systemd:/docker/abc\n0::/\n",
                CgroupPaths(v2="/", v1_memory="/docker/abc"),
            ),
            ("7:cpu,memory:/a\n", CgroupPaths(v1_memory="/a")),
            ("", CgroupPaths()),
            ("nonsense\n3:memory\n", CgroupPaths()),
        ],
        ids=["v2", "v2 namespace root", "hybrid", "joint controllers", "empty", "malformed"],
    )
    def test_finds_the_v2_and_v1_memory_paths(self, text: str, expected: CgroupPaths) -> None:
        """The unified path and the memory controller's path are found; junk lines are skipped."""
        assert parse_proc_cgroup(text) == expected


class TestAncestors:
    @pytest.mark.parametrize(
        ("path", "expected"),
        [
            ("/a/b", ["a/b", "a", ""]),
            ("/", [""]),
            ("/a/../b/", ["b", ""]),
        ],
    )
    def test_innermost_first_up_to_the_root(self, path: str, expected: list[str]) -> None:
        """Every directory whose limit applies, from the process's cgroup up to the root."""
        assert cgroup_ancestors(path) == expected


class TestTightest:
    def test_smallest_limit_wins(self) -> None:
        """The smallest of the known limits applies."""
        v2 = MemoryLimit(limit_bytes=500, source="cgroup_v2")
        rlimit = MemoryLimit(limit_bytes=300, source="rlimit_as")
        assert tightest_limit(v2, None, rlimit) == rlimit

    def test_nothing_known_is_none(self) -> None:
        """No limit at all gives None."""
        assert tightest_limit() is None
        assert tightest_limit(None, None) is None

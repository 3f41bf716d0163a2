"""Memory limits from the text of cgroup files and ``/proc/self/cgroup``.

Pure parsing: callers read the files (``otelperf.processors.memory.read_memory_limit``) and
pass their content here, so tests need no real cgroup. Malformed content means "unknown" (``None``),
never an exception: a kernel quirk must not stop memory sampling.

The limit a growth ETA is computed against is the *tightest* one that applies:

- cgroup v2: ``memory.max`` of the process's cgroup and of each ancestor ("max" = no limit).
  ``memory.high`` is a throttling point, not a kill limit, and is ignored.
- cgroup v1: ``memory.limit_in_bytes`` of the memory controller's cgroup and its ancestors; "no
  limit" is written as a huge number (``LONG_MAX`` rounded down to the page size).
- ``RLIMIT_AS``: a cap on virtual size, not on RSS (compare it with ``vms_bytes``).

A cgroup limit counts every process in the cgroup and its page cache, not only this process's
RSS: an ETA against it is optimistic when other processes share the cgroup. Page cache is reclaimed
before the OOM killer acts, so for a process alone in its container RSS is the number that matters.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "CgroupPaths",
    "LimitSource",
    "MemoryLimit",
    "cgroup_ancestors",
    "parse_cgroup_v1_limit",
    "parse_cgroup_v2_max",
    "parse_proc_cgroup",
    "tightest_limit",
]

LimitSource = Literal["cgroup_v2", "cgroup_v1", "rlimit_as"]
"""Where a :class:`MemoryLimit` came from."""

# cgroup v1 writes "unlimited" as LONG_MAX rounded down to the page size (9223372036854771712 with
# 4 KiB pages, other values with 16/64 KiB pages). No real limit comes near 4 EiB.
_V1_UNLIMITED_FROM = 1 << 62


@dataclass(frozen=True, slots=True, kw_only=True)
class MemoryLimit:
    """A memory limit that applies to this process.

    Attributes:
        limit_bytes: The limit in bytes (> 0).
        source: Which mechanism sets it.
    """

    limit_bytes: int
    source: LimitSource


@dataclass(frozen=True, slots=True, kw_only=True)
class CgroupPaths:
    """This process's cgroups, as listed in ``/proc/self/cgroup``.

    Attributes:
        v2: Path in the unified (v2) hierarchy (line ``0::/path``), if any.
        v1_memory: Path in the v1 hierarchy that has the ``memory`` controller, if any.
    """

    v2: str | None = None
    v1_memory: str | None = None


def _parse_bytes(text: str) -> int | None:
    try:
        value = int(text.strip())
    except ValueError:
        return None
    return value if value > 0 else None


def parse_cgroup_v2_max(text: str) -> int | None:
    """Parse a cgroup v2 ``memory.max``: bytes, or ``None`` for "max" or malformed content."""
    return None if text.strip() == "max" else _parse_bytes(text)


def parse_cgroup_v1_limit(text: str) -> int | None:
    """Parse a cgroup v1 ``memory.limit_in_bytes``: bytes, or ``None`` if unlimited or malformed."""
    value = _parse_bytes(text)
    return None if value is None or value >= _V1_UNLIMITED_FROM else value


def parse_proc_cgroup(text: str) -> CgroupPaths:
    """Parse ``/proc/self/cgroup`` (lines ``hierarchy-id:controllers:path``).

    Returns:
        The v2 path (hierarchy 0, no controllers) and the v1 path of the ``memory`` controller; each
        ``None`` when absent. Malformed lines are skipped.
    """
    v2: str | None = None
    v1_memory: str | None = None
    for line in text.splitlines():
        parts = line.strip().split(":", 2)
        if len(parts) != 3 or not parts[2].startswith("/"):
            continue
        hierarchy, controllers, path = parts
        if hierarchy == "0" and controllers == "":
            v2 = path
        elif "memory" in controllers.split(","):
            v1_memory = path
    return CgroupPaths(v2=v2, v1_memory=v1_memory)


def cgroup_ancestors(path: str) -> list[str]:
    """Relative directories from a cgroup up to the hierarchy root, innermost first.

    ``"/a/b"`` gives ``["a/b", "a", ""]``: join each to the mount point to find the files whose
    limits apply. Inside a cgroup namespace the process sees ``/`` and the mount point is its own
    cgroup; when the listed path is not below the mount (a container without a namespace), the
    missing directories simply have no files and the mount point itself still answers.
    """
    parts = [p for p in posixpath.normpath(path).split("/") if p not in ("", ".", "..")]
    return ["/".join(parts[:i]) for i in range(len(parts), -1, -1)]


def tightest_limit(*limits: MemoryLimit | None) -> MemoryLimit | None:
    """The smallest of the known limits (the first one on ties), or ``None`` if none is known."""
    known = [limit for limit in limits if limit is not None]
    return min(known, key=lambda limit: limit.limit_bytes) if known else None

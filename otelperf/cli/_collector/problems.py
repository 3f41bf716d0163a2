"""What a check reports: one ``Problem`` per finding, rendered as ``PATH: problem``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["Problem", "Severity"]

Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class Problem:
    """One finding about a checked file.

    Attributes:
        where: Location in the file, e.g. ``service.pipelines.traces/in`` (empty: whole file).
        message: What is wrong and, where possible, what to write instead.
        severity: ``error`` makes ``check-config`` fail; ``warning`` only does with ``--strict``.
    """

    where: str
    message: str
    severity: Severity = "error"

    def render(self, path: str) -> str:
        """Return the report line for ``path``: ``PATH: [warning: ]WHERE: MESSAGE``."""
        prefix = "warning: " if self.severity == "warning" else ""
        location = f"{self.where}: " if self.where else ""
        return f"{path}: {prefix}{location}{self.message}"

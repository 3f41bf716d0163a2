"""The alert record that budgets, SLOs, regression and leak detection hand to the sinks.

An :class:`Alert` is a frozen value: producers build it once, the dispatcher copies a reference to
every sink, and sinks only read it. All text a human sees (:attr:`Alert.title`,
:attr:`Alert.message`) and everything a machine receives (:meth:`Alert.to_dict`) is derived from
the fields, so every sink tells the same story.
"""

from __future__ import annotations

import datetime
import hashlib
import math
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType
from typing import Any, TypeVar

from otelperf.alerts._format import TIMES, format_duration, format_value

__all__ = ["Alert", "AlertKind", "AlertSeverity", "AlertUnit"]

_E = TypeVar("_E", bound=Enum)
_TRACE_ID = re.compile(r"[0-9a-f]{32}")
_SCHEMA = "otelperf.alert.v1"


class AlertKind(str, Enum):
    """What raised the alert."""

    BUDGET = "budget"
    """A latency or error-rate budget (DESIGN §5) changed state."""
    SLO = "slo"
    """An SLO's error budget burns too fast (multi-window burn rate)."""
    REGRESSION = "regression"
    """An operation got slower than its own baseline, with no budget configured."""
    LEAK = "leak"
    """Process memory grows steadily (DESIGN §7)."""
    SPAN_LEAK = "span_leak"
    """Spans were started and never ended."""

    def __str__(self) -> str:
        """Return the value (``budget``), not ``AlertKind.BUDGET``."""
        return self.value


class AlertSeverity(str, Enum):
    """How bad it is; ``resolved`` closes an alert of the same :attr:`Alert.fingerprint`.

    The first three are the budget states of DESIGN §5 (``warning`` above the threshold, ``error``
    at 1.5×, ``critical`` at 2× by default; ratios are per budget). Other producers map onto the
    same scale: what the on-call should look at soon (``warning``), now (``error``), or wake up
    for (``critical``). An alert whose problem has gone away is sent once more as ``resolved`` so
    that vendors can close the issue or incident it opened.
    """  # noqa: RUF002 - the multiplication sign is meant

    WARNING = "warning"
    ERROR = "error"
    CRITICAL = "critical"
    RESOLVED = "resolved"

    def __str__(self) -> str:
        """Return the value (``warning``)."""
        return self.value


class AlertUnit(str, Enum):
    """Unit of :attr:`Alert.actual` and :attr:`Alert.threshold`; it decides how they are shown."""

    MS = "ms"
    """Milliseconds (latency statistics)."""
    S = "s"
    """Seconds (ages, e.g. of leaked spans)."""
    FRACTION = "fraction"
    """A fraction in [0, 1] (error rates), shown as a percentage."""
    RATIO = "ratio"
    """A dimensionless multiplier (burn rates, regression factors), shown as ``14.4×``.

    (Multiplication sign, not a letter x.)
    """  # noqa: RUF001
    BYTES = "bytes"
    """Bytes (memory), shown with binary prefixes."""
    BYTES_PER_H = "bytes_per_h"
    """Bytes per hour (memory growth rate)."""
    COUNT = "count"
    """A number of things (open spans, objects)."""

    def __str__(self) -> str:
        """Return the value (``ms``)."""
        return self.value


# What the title calls the subject when the alert has no operation, and the word after the
# threshold ("... > 250 ms budget").
_SUBJECT = {
    AlertKind.BUDGET: "all operations",
    AlertKind.SLO: "all operations",
    AlertKind.REGRESSION: "all operations",
    AlertKind.LEAK: "process memory",
    AlertKind.SPAN_LEAK: "spans",
}
_LIMIT = {
    AlertKind.BUDGET: "budget",
    AlertKind.SLO: "SLO limit",
    AlertKind.REGRESSION: "regression limit",
    AlertKind.LEAK: "leak limit",
    AlertKind.SPAN_LEAK: "limit",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Alert:
    """One alert: what was measured, against what limit, where, and how bad it is.

    Instances are immutable and safe to share between threads. The constructor checks the
    fields and normalises them (enum values given as strings, an upper-case trace id, any
    mapping as ``resource``).

    Example:
        >>> a = Alert(kind="budget", severity="warning", service="shop", operation="GET /users",
        ...           statistic="p99", budget="GET /users p99<250ms", actual=312.0,
        ...           threshold=250.0, unit="ms", window_s=60.0, timestamp_ns=0)
        >>> a.title
        'GET /users p99 312 ms > 250 ms budget (1.25×, warning) over 60 s'

    Raises:
        ValueError: A field has a value no alert can have (unknown kind, negative window, a
            trace id that is not 32 hex digits, ...).
    """  # noqa: RUF002 - the multiplication sign is meant

    kind: AlertKind
    """What raised the alert."""
    severity: AlertSeverity
    """How bad it is; ``resolved`` when the problem went away."""
    service: str
    """``service.name`` of the process that raised it."""
    actual: float
    """The measured value, in :attr:`unit`."""
    threshold: float
    """The limit :attr:`actual` is compared with, in :attr:`unit`."""
    unit: AlertUnit
    """Unit of :attr:`actual` and :attr:`threshold`."""
    window_s: float
    """Length in seconds of the window the value was measured over."""
    operation: str | None = None
    """The operation key (span name, e.g. ``GET /users``), if the alert is about one."""
    statistic: str | None = None
    """What was measured, as a human says it: ``p99``, ``error_rate``, ``burn rate``, ``rss``."""
    budget: str | None = None
    """The budget or SLO in its string form (``GET /users p99<250ms``), if one was breached."""
    trace_id: str | None = None
    """32 lower-case hex digits of a kept trace that shows the problem, if there is one."""
    detail: str | None = None
    """Optional extra sentence for humans (a leak's projected time to the memory limit, ...)."""
    resource: Mapping[str, Any] = field(default_factory=dict, hash=False)
    """OTel resource attributes of the process (host, pod, version, ...); copied read-only."""
    timestamp_ns: int = field(default_factory=time.time_ns)
    """When the alert was raised, in nanoseconds since the Unix epoch."""

    def __post_init__(self) -> None:
        """Check and normalise the fields (see the class docstring)."""
        # Frozen dataclass: normalised values are written with object.__setattr__.
        set_ = object.__setattr__
        set_(self, "kind", _member(AlertKind, self.kind, "kind"))
        set_(self, "severity", _member(AlertSeverity, self.severity, "severity"))
        set_(self, "unit", _member(AlertUnit, self.unit, "unit"))
        if not isinstance(self.service, str) or not self.service:
            raise ValueError(f"Alert.service must be a non-empty string, got {self.service!r}")
        for name in ("actual", "threshold"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"Alert.{name} must be a number, got {value!r}")
            set_(self, name, float(value))
        if not (isinstance(self.window_s, (int, float)) and 0 <= self.window_s < math.inf):
            raise ValueError(f"Alert.window_s must be a finite number >= 0, got {self.window_s!r}")
        if isinstance(self.timestamp_ns, bool) or not isinstance(self.timestamp_ns, int):
            raise ValueError(f"Alert.timestamp_ns must be an int, got {self.timestamp_ns!r}")
        if self.trace_id is not None:
            trace_id = str(self.trace_id).lower()
            if not _TRACE_ID.fullmatch(trace_id) or trace_id == "0" * 32:
                raise ValueError(f"Alert.trace_id must be 32 hex digits, got {self.trace_id!r}")
            set_(self, "trace_id", trace_id)
        set_(self, "resource", MappingProxyType(dict(self.resource)))

    @property
    def ratio(self) -> float | None:
        """``actual / threshold``, or None when the threshold is not a positive finite number."""
        if not 0 < self.threshold < math.inf or not math.isfinite(self.actual):
            return None
        return self.actual / self.threshold

    @property
    def fingerprint(self) -> str:
        """32 hex digits that are equal for all alerts about the same problem.

        Built from kind, service, operation and budget; not from severity, values, resource or
        time, so a warning, its escalation to critical and its resolution group into one vendor
        issue (Sentry fingerprint, Datadog aggregation key), across all processes of a service.
        """
        parts = (self.kind.value, self.service, self.operation or "", self.budget or "")
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]

    @property
    def title(self) -> str:
        """One line for humans.

        E.g. ``GET /users p99 312 ms > 250 ms budget (1.25×, warning) over 60 s``; the comparison
        reads ``≤`` when the value is back within the limit.
        """  # noqa: RUF002 - the multiplication sign is meant
        subject = self.operation or _SUBJECT[self.kind]
        measured = f"{subject} {self.statistic}" if self.statistic else subject
        compare = ">" if self.actual > self.threshold else "≤"
        ratio = self.ratio
        how_bad = (
            f"{ratio:.2f}{TIMES}, {self.severity.value}"
            if ratio is not None
            else self.severity.value
        )
        return (
            f"{measured} {format_value(self.actual, self.unit.value)} {compare} "
            f"{format_value(self.threshold, self.unit.value)} {_LIMIT[self.kind]} ({how_bad}) "
            f"over {format_duration(self.window_s)}"
        )

    @property
    def message(self) -> str:
        """The title followed by one ``name: value`` line per known fact (service, budget, ...)."""
        lines = [self.title, f"service: {self.service}"]
        if self.budget:
            lines.append(f"budget: {self.budget}")
        if self.trace_id:
            lines.append(f"example trace: {self.trace_id}")
        if self.detail:
            lines.append(self.detail)
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict: ``json.dumps(alert.to_dict(), allow_nan=False)`` always works.

        Enum fields become their string values, non-finite numbers become None, resource values
        that are not JSON scalars become lists (sequences) or strings. The dict also carries the
        derived ``ratio``, ``title``, ``message``, ``fingerprint``, an RFC 3339 ``time`` and a
        ``schema`` tag (``otelperf.alert.v1``) for receivers.
        """
        when = datetime.datetime.fromtimestamp(self.timestamp_ns / 1e9, tz=datetime.timezone.utc)
        return {
            "schema": _SCHEMA,
            "kind": self.kind.value,
            "severity": self.severity.value,
            "service": self.service,
            "operation": self.operation,
            "statistic": self.statistic,
            "budget": self.budget,
            "actual": _finite(self.actual),
            "threshold": _finite(self.threshold),
            "unit": self.unit.value,
            "ratio": _finite(self.ratio),
            "window_s": float(self.window_s),
            "trace_id": self.trace_id,
            "detail": self.detail,
            "resource": {str(k): _json_value(v) for k, v in self.resource.items()},
            "timestamp_ns": self.timestamp_ns,
            "time": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "title": self.title,
            "message": self.message,
            "fingerprint": self.fingerprint,
        }


def _member(enum: type[_E], value: object, name: str) -> _E:
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(m.value for m in enum)
        raise ValueError(f"Alert.{name} must be one of {allowed}, got {value!r}") from None


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _json_value(value: object) -> object:
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return _finite(value)
    if isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)):
        return [_json_value(v) for v in value]
    return str(value)

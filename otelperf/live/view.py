"""The live terminal view shared by ``otelperf demo`` and ``otelperf top`` (``rich``).

:func:`frame` copies what one screen needs out of a :class:`FleetMerger` (call it under the
pump's lock); :func:`render` turns a frame into a ``rich`` renderable: a header line, a table per
operation (count, rate, error rate, p50/p95/p99 with a p99 sparkline, budget state in colour),
the latest alerts, and the memory trend. :func:`plain_lines` gives the same frame as short log
lines for ``--no-live``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from otelperf.live.fleet import FleetMerger, OperationRow
from otelperf.report.model import AlertEntry, MemoryPoint

__all__ = ["Frame", "frame", "memory_totals", "plain_lines", "render", "sparkline"]

_BARS = "▁▂▃▄▅▆▇█"
STATE_STYLES: Mapping[str, str] = {
    "ok": "green",
    "warning": "yellow",
    "error": "bold red",
    "critical": "bold white on red",
    "insufficient_data": "dim",
}
SEVERITY_STYLES: Mapping[str, str] = {**STATE_STYLES, "resolved": "green"}


@dataclass(frozen=True, slots=True)
class Frame:
    """One screen's worth of data, copied out of the merger."""

    title: str
    now_s: float
    uptime_s: float
    window_s: float
    sources: int
    spans: int
    rows: tuple[OperationRow, ...]
    alerts: tuple[AlertEntry, ...]
    memory_bytes: tuple[float, ...]
    footer: str = ""


def frame(merger: FleetMerger, *, title: str, now_s: float, footer: str = "") -> Frame:
    """Copy one screen's data out of ``merger`` (the caller holds the merger's lock)."""
    return Frame(
        title=title,
        now_s=now_s,
        uptime_s=now_s - merger.started_s,
        window_s=merger.window_s,
        sources=merger.live_sources(now_s),
        spans=merger.spans_seen,
        rows=tuple(merger.rows(now_s)),
        alerts=tuple(merger.alerts()[-8:]),
        memory_bytes=tuple(memory_totals(merger.memory())[-30:]),
        footer=footer,
    )


def memory_totals(
    memory: Mapping[str, Sequence[MemoryPoint]], *, bin_s: float = 1.0
) -> list[float]:
    """Total resident memory of all processes per ``bin_s``, from each one's latest reading."""
    events = sorted((p.t_s, p.source, p.rss_bytes) for series in memory.values() for p in series)
    latest: dict[str, float] = {}
    totals: list[float] = []
    current_bin: int | None = None
    for t_s, source, rss in events:
        index = math.floor(t_s / bin_s)
        if current_bin is not None and index != current_bin:
            totals.append(sum(latest.values()))
        current_bin = index
        latest[source] = rss
    if latest:
        totals.append(sum(latest.values()))
    return totals


def sparkline(values: Sequence[float]) -> str:
    """Bars scaled from the smallest to the largest finite value; a gap where there is none."""
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return ""
    low, high = min(finite), max(finite)
    spread = high - low
    out = []
    for value in values:
        if not math.isfinite(value):
            out.append(" ")
        else:
            step = 0 if spread <= 0 else round((value - low) / spread * (len(_BARS) - 1))
            out.append(_BARS[step])
    return "".join(out)


def _ms(value: float) -> str:
    if not math.isfinite(value):
        return "-"
    return f"{value:.0f}" if value >= 100 else f"{value:.1f}"


def _mib(value: float) -> str:
    return f"{value / 2**20:,.0f} MiB"


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(max(seconds, 0)), 60)
    return f"{minutes:02d}:{secs:02d}"


def _table(data: Frame) -> Table:
    table = Table(expand=False, header_style="bold", pad_edge=False)
    for column, justify in (
        ("operation", "left"),
        ("total", "right"),
        ("rps", "right"),
        ("err %", "right"),
        ("p50 ms", "right"),
        ("p95 ms", "right"),
        ("p99 ms", "right"),
        ("p99 trend", "left"),
        ("budget", "left"),
    ):
        table.add_column(column, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for row in data.rows:
        state = Text(row.state or "-", style=STATE_STYLES.get(row.state, ""))
        errors = Text(f"{row.error_rate * 100:.1f}", style="red" if row.error_rate >= 0.01 else "")
        table.add_row(
            row.operation,
            f"{row.total:,}",
            f"{row.rps:.1f}",
            errors,
            _ms(row.p50_ms),
            _ms(row.p95_ms),
            _ms(row.p99_ms),
            Text(sparkline(row.spark_ms), style="cyan"),
            state,
        )
    return table


def render(data: Frame) -> RenderableType:
    """Build the screen for ``data``."""
    header = Text.assemble(
        (data.title, "bold"),
        f"  up {_clock(data.uptime_s)} · {data.sources} process(es) · window {data.window_s:g} s"
        f" · {data.spans:,} spans received",
    )
    parts: list[RenderableType] = [header]
    parts.append(_table(data) if data.rows else Text("waiting for otelperf metrics…", style="dim"))
    parts.append(Text("alerts", style="bold"))
    if not data.alerts:
        parts.append(Text("  none yet", style="dim"))
    for alert in data.alerts:
        when = time.strftime("%H:%M:%S", time.localtime(alert.t_s))
        parts.append(
            Text.assemble(
                f"  {when} ",
                (f"{alert.severity:<9}", SEVERITY_STYLES.get(alert.severity, "")),
                f" {alert.source:<8} {alert.title}",
            )
        )
    if data.memory_bytes:
        first, last = data.memory_bytes[0], data.memory_bytes[-1]
        parts.append(
            Text.assemble(
                ("memory ", "bold"),
                f"{_mib(last)} ",
                (sparkline(data.memory_bytes), "magenta"),
                f" ({(last - first) / 2**20:+,.1f} MiB over {len(data.memory_bytes)} readings)",
            )
        )
    if data.footer:
        parts.append(Text(data.footer, style="dim"))
    return Group(*parts)


def plain_lines(data: Frame) -> list[str]:
    """The frame as log lines (``--no-live``): one summary line and one per operation."""
    measured = sum(r.total for r in data.rows)
    lines = [
        f"[{_clock(data.uptime_s)}] {data.sources} process(es), {measured:,} requests measured, "
        f"{data.spans:,} spans received"
    ]
    for row in data.rows:
        lines.append(
            f"  {row.operation:<32} {row.rps:7.1f} rps  err {row.error_rate * 100:5.1f} %  "
            f"p50 {_ms(row.p50_ms):>6}  p95 {_ms(row.p95_ms):>6}  p99 {_ms(row.p99_ms):>6} ms  "
            f"{row.state or '-'}"
        )
    return lines

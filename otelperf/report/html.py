"""The HTML report: one self-contained page with interactive plotly plots, readable offline.

Plotly was chosen over matplotlib because latency data wants interaction (hover to read a
percentile at a time, click a legend entry to hide an operation, zoom into a spike) and because
it is pure Python: no compiled wheels, so ``pip install otelperf[demo]`` works on any platform.
Its JavaScript bundle (about 4.6 MB, shipped inside the ``plotly`` wheel) is inlined once at the
top of the page, so the file opens with no network, from a CI artifact or an e-mail.

Plots, each in a ``<div id="plot-...">``: latency distribution per operation, p50/p99 over
time, requests per second over time, the budget timeline and the memory trend.
"""

from __future__ import annotations

import datetime
import html
import math
from collections import defaultdict
from collections.abc import Iterable

# plotly ships no type information; unused-ignore keeps this valid once mypy is told so.
import plotly.graph_objects as go  # type: ignore[import-untyped, unused-ignore]
from plotly.offline import get_plotlyjs  # type: ignore[import-untyped, unused-ignore]

from otelperf.report.model import BudgetPoint, Distribution, ReportData

__all__ = ["PLOT_IDS", "render_html"]

PLOT_IDS = (
    "plot-distribution",
    "plot-percentiles",
    "plot-throughput",
    "plot-budgets",
    "plot-memory",
)
"""The ids of the plot ``<div>`` elements, in page order."""

_STATE_COLOURS = {
    "ok": "#2ca02c",
    "warning": "#e6b800",
    "error": "#d62728",
    "critical": "#7b0000",
    "insufficient_data": "#bbbbbb",
}
_BINS_PER_OCTAVE = 8  # the distribution plot's resolution (9 % wide bins; the data has 1 %)
_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 14px; }
th, td { border-bottom: 1px solid #ddd; padding: 4px 10px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.state-ok { color: #2ca02c; } .state-warning { color: #b38f00; font-weight: bold; }
.state-error, .state-critical { color: #d62728; font-weight: bold; }
.regressed { background: #fdecea; } .muted { color: #888; }
"""


def render_html(data: ReportData) -> str:
    """Return the whole page for ``data`` (plotly's JavaScript inlined)."""
    figures = [
        ("Latency distribution", _distribution(data)),
        ("Percentiles over time", _percentiles(data)),
        ("Requests per second", _throughput(data)),
        ("Budget timeline", _budgets(data)),
        ("Memory trend", _memory(data)),
    ]
    plots = []
    for (heading, figure), div_id in zip(figures, PLOT_IDS, strict=True):
        body = (
            figure.to_html(full_html=False, include_plotlyjs=False, div_id=div_id)
            if figure is not None
            else f'<div id="{div_id}" class="muted">no data</div>'
        )
        plots.append(f"<section><h2>{heading}</h2>{body}</section>")
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>{html.escape(data.title)}</title><style>{_CSS}</style>",
            f'<script type="text/javascript">{get_plotlyjs()}</script>',
            "</head><body>",
            _header(data),
            _summary_table(data),
            _alerts(data),
            *plots,
            "</body></html>",
        ]
    )


def _when(t_s: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(t_s)


def _header(data: ReportData) -> str:
    total = sum(op.summary.count for op in data.operations)
    span = max(data.ended_s - data.started_s, 0.0)
    lines = [
        f"<h1>{html.escape(data.title)}</h1>",
        f"<p>{_when(data.started_s):%Y-%m-%d %H:%M:%S} to {_when(data.ended_s):%H:%M:%S} "
        f"({span:.0f} s) · {data.sources} process(es) · {total:,} requests measured · "
        f"live window {data.window_s:g} s</p>",
    ]
    if data.regressions:
        items = "".join(
            f"<li><b>{html.escape(r.operation)}</b>: p95 {r.before_p95_ms:.1f} ms → "
            f"{r.after_p95_ms:.1f} ms ({r.ratio:.1f}&times;)</li>"
            for r in data.regressions
        )
        lines.append(f'<h2>Regressions</h2><ul id="regressions">{items}</ul>')
    lines += [f'<p class="muted">{html.escape(note)}</p>' for note in data.notes]
    return "\n".join(lines)


def _summary_table(data: ReportData) -> str:
    flagged = {r.operation for r in data.regressions}
    head = (
        "<tr><th>operation</th><th>kind</th><th>requests</th><th>rps</th><th>errors</th>"
        "<th>p50 ms</th><th>p95 ms</th><th>p99 ms</th><th>max ms</th><th>budget</th></tr>"
    )
    rows = []
    for op in data.operations:
        s = op.summary
        estimated = "~" if s.errors_estimated else ""
        css = ' class="regressed"' if s.operation in flagged else ""
        state = s.budget_state or "-"
        rows.append(
            f"<tr{css}><td>{html.escape(s.operation)}</td><td>{s.kind}</td><td>{s.count:,}</td>"
            f"<td>{s.rps:.1f}</td><td>{estimated}{s.error_rate * 100:.2f} %</td>"
            + "".join(f"<td>{_ms(v)}</td>" for v in (s.p50_ms, s.p95_ms, s.p99_ms, s.max_ms))
            + f'<td class="state-{state}">{state}</td></tr>'
        )
    return f'<table id="summary">{head}{"".join(rows)}</table>'


def _alerts(data: ReportData) -> str:
    if not data.alerts:
        return '<h2>Alerts</h2><p class="muted">none</p>'
    rows = "".join(
        f"<tr><td>{_when(a.t_s):%H:%M:%S}</td><td>{html.escape(a.source)}</td>"
        f'<td class="state-{html.escape(a.severity)}">{html.escape(a.severity)}</td>'
        f"<td style='text-align:left'>{html.escape(a.title)}</td></tr>"
        for a in data.alerts
    )
    return f'<h2>Alerts</h2><table id="alerts">{rows}</table>'


def _ms(value: float) -> str:
    return "-" if not math.isfinite(value) else f"{value:.1f}"


def _layout(figure: go.Figure, *, x: str, y: str, log_x: bool = False) -> go.Figure:
    figure.update_layout(
        height=380,
        margin={"l": 60, "r": 20, "t": 20, "b": 50},
        hovermode="closest",
        xaxis_title=x,
        yaxis_title=y,
        legend={"orientation": "h", "y": -0.2},
    )
    if log_x:
        figure.update_xaxes(type="log")
    return figure


def _rebinned(distribution: Distribution) -> tuple[list[float], list[float]]:
    """Bucket lower bounds and shares (%), coarsened to ``_BINS_PER_OCTAVE`` for display."""
    total = sum(distribution.counts) or 1
    bins: dict[int, int] = defaultdict(int)
    for lower, upper, count in zip(
        distribution.lower_ms, distribution.upper_ms, distribution.counts, strict=True
    ):
        if upper <= 0:
            continue  # exact zeros have no place on a log axis
        middle = math.sqrt(max(lower, upper / 2) * upper)
        bins[math.floor(math.log2(middle) * _BINS_PER_OCTAVE)] += count
    keys = sorted(bins)
    return [2 ** (k / _BINS_PER_OCTAVE) for k in keys], [bins[k] / total * 100 for k in keys]


def _distribution(data: ReportData) -> go.Figure | None:
    figure = go.Figure()
    for op in data.operations:
        xs, ys = _rebinned(op.distribution)
        if xs:
            figure.add_trace(
                go.Scatter(
                    x=xs,
                    y=ys,
                    name=op.summary.operation,
                    mode="lines",
                    line_shape="hv",
                    hovertemplate="%{x:.3g} ms: %{y:.2f} %<extra>%{fullData.name}</extra>",
                )
            )
    if not figure.data:
        return None
    return _layout(figure, x="duration (ms, log scale)", y="% of requests", log_x=True)


def _percentiles(data: ReportData) -> go.Figure | None:
    figure = go.Figure()
    for op in data.operations:
        if not op.series:
            continue
        times = [_when(p.t_s) for p in op.series]
        name = op.summary.operation
        for label, values, dash in (
            ("p99", [p.p99_ms for p in op.series], "solid"),
            ("p50", [p.p50_ms for p in op.series], "dot"),
        ):
            figure.add_trace(
                go.Scatter(
                    x=times,
                    y=values,
                    name=f"{name} {label}",
                    legendgroup=name,
                    mode="lines",
                    line={"dash": dash},
                )
            )
    return _layout(figure, x="time", y="ms") if figure.data else None


def _throughput(data: ReportData) -> go.Figure | None:
    figure = go.Figure()
    for op in data.operations:
        if op.series:
            figure.add_trace(
                go.Scatter(
                    x=[_when(p.t_s) for p in op.series],
                    y=[p.count / p.width_s for p in op.series],
                    name=op.summary.operation,
                    mode="lines",
                )
            )
    return _layout(figure, x="time", y="requests / s") if figure.data else None


def _budgets(data: ReportData) -> go.Figure | None:
    """One horizontal band per (budget, operation), coloured by state over time."""
    if not data.budgets:
        return None
    measured = {op.summary.operation for op in data.operations}
    by_row: dict[str, list[BudgetPoint]] = defaultdict(list)
    for point in data.budgets:
        if point.operation not in measured:
            continue  # a selector that matched nothing yet: its row would only say "no data"
        short = point.budget.split(' impact "', 1)[0]  # the impact sentence is in the table
        by_row[f"{point.operation} · {short}"].append(point)
    if not by_row:
        return None
    segments: dict[str, tuple[list[object], list[object]]] = {}
    for row, points in by_row.items():
        points.sort(key=lambda p: p.t_s)
        ends = [p.t_s for p in points[1:]] + [max(data.ended_s, points[-1].t_s)]
        for point, end in zip(points, ends, strict=True):
            xs, ys = segments.setdefault(point.state, ([], []))
            xs += [_when(point.t_s), _when(end), None]
            ys += [row, row, None]
    figure = go.Figure()
    for state, (xs, ys) in segments.items():
        figure.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                name=state,
                mode="lines",
                line={"color": _STATE_COLOURS.get(state, "#888"), "width": 14},
            )
        )
    figure = _layout(figure, x="time", y="")
    figure.update_layout(height=max(240, 40 * len(by_row) + 120))
    return figure


def _memory(data: ReportData) -> go.Figure | None:
    by_source: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for point in data.memory:
        by_source[point.source].append((point.t_s, point.rss_bytes))
    if not by_source:
        return None
    figure = go.Figure()
    for source, points in sorted(by_source.items()):
        points.sort()
        figure.add_trace(
            go.Scatter(
                x=[_when(t) for t, _ in points],
                y=_mib(v for _, v in points),
                name=source,
                mode="lines",
            )
        )
    return _layout(figure, x="time", y="resident memory (MiB)")


def _mib(values: Iterable[float]) -> list[float]:
    return [v / 2**20 for v in values]

"""Checks over the pipeline graph: connectors, cycles, and where span metrics sit against sampling.

Pipelines are nodes; a connector that one pipeline exports to and another receives from is an edge.
The rule that matters most for otelperf: the span metrics connector must see every span, so no
sampling processor may run upstream of it. Metrics computed after ``tail_sampling`` count only the
kept traces, which are biased towards errors and slow requests (see ``collector-config/README.md``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from otelperf.cli._collector.catalog import Catalog
from otelperf.cli._collector.model import Pipeline
from otelperf.cli._collector.problems import Problem

__all__ = ["SAMPLING_PROCESSORS", "SPAN_METRICS_CONNECTORS", "check_graph"]

SAMPLING_PROCESSORS = frozenset({"tail_sampling", "probabilistic_sampler"})
"""Processor types that drop spans; nothing computing span metrics may sit behind them."""

SPAN_METRICS_CONNECTORS = frozenset({"spanmetrics", "span_metrics"})
"""The span metrics connector under its name before and after the 2026 snake_case rename."""

_MEMORY_LIMITER = "memory_limiter"


def check_graph(
    pipelines: Sequence[Pipeline], defined: Mapping[str, Mapping[str, str]], catalog: Catalog
) -> list[Problem]:
    """Return connector, cycle, span-metrics-order and processor-order problems.

    Args:
        pipelines: The parsed ``service.pipelines``.
        defined: Class (``connector``, ``processor``...) to ``{component id: type}``.
        catalog: Supplies which signal pairs each connector type supports.
    """
    connectors = {cid: _canonical(t, catalog) for cid, t in defined["connector"].items()}
    processors = {cid: _canonical(t, catalog) for cid, t in defined["processor"].items()}
    problems = _connector_problems(pipelines, connectors, catalog)
    edges = _edges(pipelines, connectors, catalog)
    problems.extend(_cycle_problems(pipelines, edges))
    problems.extend(_span_metrics_problems(pipelines, connectors, processors, edges))
    problems.extend(_memory_limiter_problems(pipelines, processors))
    return problems


def _canonical(type_: str, catalog: Catalog) -> str:
    """Map a later or deprecated name to the catalog's name, so rules apply to both spellings."""
    for cls in ("connector", "processor"):
        if type_ in catalog.later_names[cls]:
            return catalog.later_names[cls][type_]
        if type_ in catalog.deprecated[cls]:
            return catalog.deprecated[cls][type_]
    return type_


def _supports(connector_type: str, source: str, target: str, catalog: Catalog) -> bool:
    """Whether the connector type can take ``source`` signal data to a ``target`` pipeline."""
    pairs = catalog.connector_signals.get(connector_type)
    return pairs is None or (source, target) in pairs


def _connector_problems(
    pipelines: Sequence[Pipeline], connectors: Mapping[str, str], catalog: Catalog
) -> list[Problem]:
    problems = []
    for cid, ctype in connectors.items():
        feeding = [p for p in pipelines if cid in p.exporters]
        fed = [p for p in pipelines if cid in p.receivers]
        where = f"connectors.{cid}"
        if feeding and not fed:
            names = ", ".join(p.id for p in feeding)
            problems.append(
                Problem(where, f"used as an exporter in {names} but no pipeline receives from it")
            )
        if fed and not feeding:
            names = ", ".join(p.id for p in fed)
            problems.append(
                Problem(where, f"used as a receiver in {names} but no pipeline exports to it")
            )
        if not (feeding and fed):
            continue
        supported = ", ".join(
            f"{s} to {t}" for s, t in sorted(catalog.connector_signals.get(ctype, ()))
        )
        for source in feeding:
            if not any(_supports(ctype, source.signal, p.signal, catalog) for p in fed):
                problems.append(
                    Problem(
                        where,
                        f"'{ctype}' cannot take {source.signal} from pipeline '{source.id}' to any "
                        f"pipeline that receives from it (it supports {supported})",
                    )
                )
        for target in fed:
            if not any(_supports(ctype, p.signal, target.signal, catalog) for p in feeding):
                problems.append(
                    Problem(
                        where,
                        f"'{ctype}' cannot feed {target.signal} pipeline '{target.id}' from any "
                        f"pipeline that exports to it (it supports {supported})",
                    )
                )
    return problems


def _edges(
    pipelines: Sequence[Pipeline], connectors: Mapping[str, str], catalog: Catalog
) -> dict[str, list[str]]:
    """Return pipeline ID to the pipeline IDs its connectors feed, in config order."""
    edges: dict[str, list[str]] = {p.id: [] for p in pipelines}
    for source in pipelines:
        for cid in source.exporters:
            if cid not in connectors:
                continue
            for target in pipelines:
                if (
                    cid in target.receivers
                    and _supports(connectors[cid], source.signal, target.signal, catalog)
                    and target.id not in edges[source.id]
                ):
                    edges[source.id].append(target.id)
    return edges


def _cycle_problems(pipelines: Sequence[Pipeline], edges: Mapping[str, list[str]]) -> list[Problem]:
    """Report each cycle of pipelines once (the Collector refuses to start with one)."""
    state: dict[str, str] = {}  # absent = unvisited, "open" = on the current path, "done"
    path: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        state[node] = "open"
        path.append(node)
        for nxt in edges.get(node, ()):
            if state.get(nxt) == "open":
                cycles.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = "done"

    for pipeline in pipelines:
        if pipeline.id not in state:
            visit(pipeline.id)
    return [
        Problem(
            "service.pipelines", f"pipelines form a cycle through connectors: {' -> '.join(cycle)}"
        )
        for cycle in cycles
    ]


def _span_metrics_problems(
    pipelines: Sequence[Pipeline],
    connectors: Mapping[str, str],
    processors: Mapping[str, str],
    edges: Mapping[str, list[str]],
) -> list[Problem]:
    """Report span metrics connectors fed by a pipeline that has a sampler upstream of it."""
    by_id = {p.id: p for p in pipelines}
    upstream: dict[str, list[str]] = {p.id: [] for p in pipelines}
    for source, targets in edges.items():
        for target in targets:
            upstream[target].append(source)
    problems = []
    for pipeline in pipelines:
        for cid in pipeline.exporters:
            if connectors.get(cid) not in SPAN_METRICS_CONNECTORS:
                continue
            found = _sampler_upstream(pipeline.id, by_id, upstream, processors)
            if found is None:
                continue
            sampler, where = found
            problems.append(
                Problem(
                    f"service.pipelines.{pipeline.id}",
                    f"span metrics connector '{cid}' only sees spans that '{sampler}' "
                    f"(pipeline '{where}') kept, so its counts and percentiles miss every dropped "
                    f"trace; export to '{cid}' from a pipeline upstream of the sampler",
                )
            )
    return problems


def _sampler_upstream(
    start: str,
    by_id: Mapping[str, Pipeline],
    upstream: Mapping[str, list[str]],
    processors: Mapping[str, str],
) -> tuple[str, str] | None:
    """Return ``(processor id, pipeline id)`` of the nearest sampler upstream of ``start``.

    Searches ``start`` itself first, then the pipelines feeding it, breadth-first.
    """
    queue, seen = [start], {start}
    while queue:
        current = queue.pop(0)
        for pid in by_id[current].processors:
            if processors.get(pid) in SAMPLING_PROCESSORS:
                return pid, current
        for source in upstream.get(current, ()):
            if source not in seen:
                seen.add(source)
                queue.append(source)
    return None


def _memory_limiter_problems(
    pipelines: Sequence[Pipeline], processors: Mapping[str, str]
) -> list[Problem]:
    """Warn when memory_limiter is in a pipeline but not first: what runs before it is unguarded."""
    problems = []
    for pipeline in pipelines:
        types = [processors.get(pid) for pid in pipeline.processors]
        if _MEMORY_LIMITER in types and types[0] != _MEMORY_LIMITER:
            problems.append(
                Problem(
                    f"service.pipelines.{pipeline.id}",
                    f"'{pipeline.processors[types.index(_MEMORY_LIMITER)]}' should be the first "
                    "processor: data held by the processors before it is not limited",
                    "warning",
                )
            )
    return problems

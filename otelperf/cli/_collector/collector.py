"""Structural checks of a parsed Collector config: definitions, component types, references.

Everything here takes plain parsed YAML (dicts and lists) and returns ``Problem`` objects; nothing
reads files. The checks are the ones ``otelcol validate`` would fail on plus the pipeline rules in
``graph.py``, so a config can be vetted where no Collector binary is available.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence

from otelperf.cli._collector.catalog import CLASSES, SECTIONS, SIGNALS, Catalog
from otelperf.cli._collector.graph import check_graph
from otelperf.cli._collector.model import Pipeline, split_id
from otelperf.cli._collector.problems import Problem, Severity

__all__ = ["check_collector_config"]

_TOP_LEVEL = frozenset({*SECTIONS.values(), "service"})
_SERVICE_KEYS = frozenset({"extensions", "pipelines", "telemetry"})
_PIPELINE_KEYS = ("receivers", "processors", "exporters")
# The Collector's own rule for the type part of a component ID (component.Type).
_TYPE_RE = re.compile(r"[a-zA-Z][0-9a-zA-Z_]{0,62}")


def check_collector_config(config: object, catalog: Catalog) -> list[Problem]:
    """Return every problem found in a parsed Collector config, grouped by check.

    Args:
        config: The parsed YAML document.
        catalog: Component list of the Collector release the config is meant for.
    """
    if not isinstance(config, Mapping):
        return [Problem("", "expected a mapping of Collector config sections")]
    problems = [
        Problem(
            str(key), f"unknown top-level key (expected one of {', '.join(sorted(_TOP_LEVEL))})"
        )
        for key in config
        if key not in _TOP_LEVEL
    ]
    defined = {cls: _defined(config, cls, catalog, problems) for cls in CLASSES}
    for cls in ("receiver", "exporter"):
        for clash in sorted(defined[cls].keys() & defined["connector"].keys()):
            problems.append(
                Problem(
                    f"connectors.{clash}",
                    f"ambiguous ID: '{clash}' is defined both as a {cls} and as a connector",
                )
            )
    service = config.get("service")
    if not isinstance(service, Mapping):
        what = "missing" if service is None else "must be a mapping"
        problems.append(Problem("service", f"{what}: a Collector config needs service.pipelines"))
        return problems
    problems.extend(
        Problem(f"service.{key}", f"unknown key (expected {', '.join(sorted(_SERVICE_KEYS))})")
        for key in service
        if key not in _SERVICE_KEYS
    )
    enabled = _check_service_extensions(service.get("extensions"), defined["extension"], problems)
    pipelines = _parse_pipelines(service.get("pipelines"), problems)
    for pipeline in pipelines:
        _check_references(pipeline, defined, problems)
    problems.extend(check_graph(pipelines, defined, catalog))
    problems.extend(_unused(pipelines, defined, enabled))
    return problems


def _defined(
    config: Mapping[object, object], cls: str, catalog: Catalog, problems: list[Problem]
) -> dict[str, str]:
    """Return ``{component id: type}`` of one section, reporting bad IDs and unknown types."""
    section = SECTIONS[cls]
    entries = config.get(section)
    if entries is None:
        return {}
    if not isinstance(entries, Mapping):
        problems.append(Problem(section, "must be a mapping of component IDs to their settings"))
        return {}
    found: dict[str, str] = {}
    for raw_id in entries:
        component_id = str(raw_id)
        where = f"{section}.{component_id}"
        type_, name = split_id(component_id)
        if not _TYPE_RE.fullmatch(type_):
            problems.append(
                Problem(
                    where,
                    "invalid component ID: the type must start with a letter and contain only "
                    "letters, digits and '_' (at most 63 characters)",
                )
            )
            continue
        if name is not None and (not name or any(ch.isspace() for ch in name)):
            problems.append(
                Problem(where, "invalid component ID: the name after '/' is empty or has spaces")
            )
            continue
        found[component_id] = type_
        problem = _type_problem(cls, type_, catalog)
        if problem is not None:
            problems.append(Problem(where, *problem))
    return found


def _type_problem(cls: str, type_: str, catalog: Catalog) -> tuple[str, Severity] | None:
    """Return ``(message, severity)`` when ``type_`` is not a plain known type of ``cls``."""
    known = catalog.types[cls]
    if type_ in known:
        return None
    current = catalog.deprecated[cls].get(type_)
    if current is not None:
        return (
            f"{cls} type '{type_}' is a deprecated alias in {catalog.label}; use '{current}'",
            "warning",
        )
    message = f"unknown {cls} type '{type_}' for {catalog.label}"
    older = catalog.later_names[cls].get(type_)
    if older is not None:
        return (
            f"{message} ('{type_}' is its name in later releases; this release calls it '{older}')",
            "error",
        )
    close = difflib.get_close_matches(type_, sorted(known), n=1, cutoff=0.8)
    return (f"{message}; did you mean '{close[0]}'?" if close else message, "error")


def _check_service_extensions(
    value: object, extensions: Mapping[str, str], problems: list[Problem]
) -> set[str]:
    """Check ``service.extensions`` and return the extension IDs it enables."""
    if value is None:
        return set()
    names = _string_list(value)
    if names is None:
        problems.append(Problem("service.extensions", "must be a list of extension IDs"))
        return set()
    for name in names:
        if name not in extensions:
            problems.append(
                Problem(
                    "service.extensions", f"extension '{name}' is not defined under 'extensions'"
                )
            )
    return set(names)


def _parse_pipelines(value: object, problems: list[Problem]) -> list[Pipeline]:
    """Read ``service.pipelines``, reporting malformed entries (which are then skipped)."""
    if not isinstance(value, Mapping) or not value:
        problems.append(Problem("service.pipelines", "no pipelines defined"))
        return []
    pipelines = []
    for raw_id, body in value.items():
        pipeline_id = str(raw_id)
        where = f"service.pipelines.{pipeline_id}"
        signal, name = split_id(pipeline_id)
        if signal not in SIGNALS or name == "":
            problems.append(
                Problem(
                    where,
                    f"invalid pipeline ID: the signal must be one of {', '.join(SIGNALS)}, "
                    "optionally followed by /name",
                )
            )
            continue
        if not isinstance(body, Mapping):
            problems.append(
                Problem(where, "must be a mapping with receivers, processors and exporters")
            )
            continue
        problems.extend(
            Problem(where, f"unknown key '{key}' (expected {', '.join(_PIPELINE_KEYS)})")
            for key in body
            if key not in _PIPELINE_KEYS
        )
        lists: dict[str, tuple[str, ...]] = {}
        for key in _PIPELINE_KEYS:
            items = _string_list(body.get(key, []) or [])
            if items is None:
                problems.append(Problem(where, f"{key} must be a list of component IDs"))
                items = []
            lists[key] = tuple(items)
        for key in ("receivers", "exporters"):
            if not lists[key]:
                problems.append(
                    Problem(where, f"has no {key}: a pipeline needs at least one {key[:-1]}")
                )
        pipelines.append(
            Pipeline(
                pipeline_id, signal, lists["receivers"], lists["processors"], lists["exporters"]
            )
        )
    return pipelines


def _check_references(
    pipeline: Pipeline, defined: Mapping[str, Mapping[str, str]], problems: list[Problem]
) -> None:
    """Report references of ``pipeline`` to components that are not defined, and repeats."""
    where = f"service.pipelines.{pipeline.id}"
    for key, cls in (
        ("receivers", "receiver"),
        ("processors", "processor"),
        ("exporters", "exporter"),
    ):
        seen: set[str] = set()
        for component_id in getattr(pipeline, key):
            if component_id in seen:
                problems.append(Problem(where, f"lists {cls} '{component_id}' twice"))
                continue
            seen.add(component_id)
            if component_id in defined[cls] or (
                cls != "processor" and component_id in defined["connector"]
            ):
                continue
            sections = (
                f"'{SECTIONS[cls]}'" if cls == "processor" else f"'{SECTIONS[cls]}' or 'connectors'"
            )
            problems.append(
                Problem(where, f"{cls} '{component_id}' is not defined under {sections}")
            )


def _unused(
    pipelines: Sequence[Pipeline], defined: Mapping[str, Mapping[str, str]], enabled: set[str]
) -> list[Problem]:
    """Warn about defined components that no pipeline (or service.extensions) uses."""
    used = {
        component_id
        for pipeline in pipelines
        for component_id in (*pipeline.receivers, *pipeline.processors, *pipeline.exporters)
    }
    problems = [
        Problem(
            f"{SECTIONS[cls]}.{component_id}", "defined but not used in any pipeline", "warning"
        )
        for cls in ("receiver", "processor", "exporter", "connector")
        for component_id in defined[cls]
        if component_id not in used
    ]
    problems.extend(
        Problem(
            f"extensions.{component_id}", "defined but not enabled in service.extensions", "warning"
        )
        for component_id in defined["extension"]
        if component_id not in enabled
    )
    return problems


def _string_list(value: object) -> list[str] | None:
    """Return ``value`` as a list of strings, or ``None`` when it is not one."""
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return list(value)
    return None

"""Read a file, decide what it is (Collector config, compose file, Grafana dashboard), check it."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import yaml

from otelperf.cli._collector.catalog import Catalog
from otelperf.cli._collector.collector import check_collector_config
from otelperf.cli._collector.compose import check_compose
from otelperf.cli._collector.metric_names import KNOWN_PROMETHEUS_NAMES
from otelperf.cli._collector.problems import Problem
from otelperf.cli._collector.promql import check_dashboard

__all__ = ["Kind", "check_file", "detect_kind"]

Kind = Literal["collector", "compose", "dashboard"]

# The file names docker compose looks for (and check-jsonschema's compose hook matches).
_COMPOSE_NAME = re.compile(r"(?:docker-)?compose(?:\.[.\w-]*)?\.ya?ml")
_COLLECTOR_SECTIONS = frozenset(
    {"receivers", "processors", "exporters", "connectors", "extensions", "service"}
)


def detect_kind(path: Path, document: object) -> Kind | None:
    """Return what ``document`` (parsed from ``path``) is, or ``None`` when it is none of them."""
    if not isinstance(document, Mapping):
        return None
    if path.suffix == ".json":
        return "dashboard" if isinstance(document.get("panels"), list) else None
    if _COMPOSE_NAME.fullmatch(path.name):
        return "compose"
    if _COLLECTOR_SECTIONS & set(document):
        return "collector"
    if "services" in document:
        return "compose"
    return None


def check_file(path: Path, *, catalog: Catalog, compose: bool = False) -> list[Problem]:
    """Parse and check one file.

    Args:
        path: The file to check.
        catalog: Component list used for Collector configs.
        compose: Treat the file as a compose file whatever its name and content.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return [Problem("", f"cannot read: {exc}")]
    try:
        document = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        syntax = "JSON" if path.suffix == ".json" else "YAML"
        return [Problem("", f"invalid {syntax}: {' '.join(str(exc).split())}")]
    if document is None:
        return [Problem("", "file is empty")]
    kind: Kind | None = "compose" if compose else detect_kind(path, document)
    if kind == "collector":
        return check_collector_config(document, catalog)
    if kind == "compose":
        return check_compose(document, base_dir=path.parent)
    if kind == "dashboard":
        return check_dashboard(document, KNOWN_PROMETHEUS_NAMES)
    return [
        Problem(
            "",
            "not recognised as a Collector config, a compose file (use --compose) "
            "or a Grafana dashboard",
        )
    ]

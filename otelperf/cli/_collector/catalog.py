"""The component list of the pinned otelcol-contrib release, loaded from vendored data.

The data file and its sources are described in ``SOURCES.md`` next to this module.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

__all__ = ["CLASSES", "PINNED_VERSION", "SECTIONS", "SIGNALS", "Catalog", "load_catalog"]

PINNED_VERSION = "0.159.0"
"""The otelcol-contrib release ``collector-config/`` and ``docker-compose.yml`` are written for."""

CLASSES = ("receiver", "processor", "exporter", "connector", "extension")
SECTIONS: Mapping[str, str] = {cls: f"{cls}s" for cls in CLASSES}
"""Top-level config section holding the components of each class."""

SIGNALS = ("traces", "metrics", "logs", "profiles")


@dataclass(frozen=True, slots=True, kw_only=True)
class Catalog:
    """Which component types one Collector release registers.

    Attributes:
        distribution: Distribution name, e.g. ``otelcol-contrib``.
        version: Release, e.g. ``0.159.0``.
        image: Container image of that release.
        types: Class (``receiver``...) to the type names it registers.
        deprecated: Class to ``{old name: current name}`` of aliases the release still accepts,
            logging a deprecation warning (``spanmetrics`` -> ``span_metrics``).
        later_names: Class to ``{name in later releases: name in this release}`` (empty when the
            pinned release already uses the newest names).
        connector_signals: Connector type to the ``(from signal, to signal)`` pairs it supports.
    """

    distribution: str
    version: str
    image: str
    types: Mapping[str, frozenset[str]]
    deprecated: Mapping[str, Mapping[str, str]]
    later_names: Mapping[str, Mapping[str, str]]
    connector_signals: Mapping[str, frozenset[tuple[str, str]]]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Catalog:
        """Build a catalog from the JSON layout of ``otelcol_contrib_<version>.json``.

        Raises:
            KeyError: A required key is missing.
            ValueError: A connector signal pair is not written as ``from>to``.
        """
        components = data["components"]
        signals: dict[str, frozenset[tuple[str, str]]] = {}
        for connector, pairs in data.get("connector_signals", {}).items():
            parsed = set()
            for pair in pairs:
                source, sep, target = str(pair).partition(">")
                if not sep:
                    raise ValueError(f"connector_signals.{connector}: {pair!r} is not 'from>to'")
                parsed.add((source, target))
            signals[connector] = frozenset(parsed)
        return cls(
            distribution=str(data["distribution"]),
            version=str(data["version"]),
            image=str(data["image"]),
            types={c: frozenset(str(e["type"]) for e in components.get(c, ())) for c in CLASSES},
            deprecated={c: dict(data.get("deprecated_aliases", {}).get(c, {})) for c in CLASSES},
            later_names={c: dict(data.get("later_names", {}).get(c, {})) for c in CLASSES},
            connector_signals=signals,
        )

    @property
    def label(self) -> str:
        """``otelcol-contrib 0.159.0``: how problems name the release."""
        return f"{self.distribution} {self.version}"


def load_catalog(version: str = PINNED_VERSION) -> Catalog:
    """Load the vendored component list of otelcol-contrib ``version``.

    Raises:
        FileNotFoundError: No component list is shipped for ``version``.
    """
    data_file = resources.files("otelperf.cli._collector").joinpath(
        f"otelcol_contrib_{version}.json"
    )
    return Catalog.from_dict(json.loads(data_file.read_text(encoding="utf-8")))

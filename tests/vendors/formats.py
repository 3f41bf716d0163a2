"""Decoders for vendor payloads: Sentry envelopes; JSON helpers for Datadog and New Relic."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class EnvelopeItem:
    headers: dict[str, Any]
    payload: bytes

    def json(self) -> Any:
        return json.loads(self.payload)


def parse_envelope(body: bytes) -> tuple[dict[str, Any], list[EnvelopeItem]]:
    """Split a Sentry envelope: a header line, then items (header line + ``length`` bytes).

    An item without ``length`` runs to the next newline (the envelope format allows both).
    """
    first, _, rest = body.partition(b"\n")
    header = json.loads(first)
    items: list[EnvelopeItem] = []
    while rest.strip():
        line, _, rest = rest.partition(b"\n")
        item_header = json.loads(line)
        length = item_header.get("length")
        if length is None:
            payload, _, rest = rest.partition(b"\n")
        else:
            payload, rest = rest[:length], rest[length:]
            if rest.startswith(b"\n"):
                rest = rest[1:]
        items.append(EnvelopeItem(item_header, payload))
    return header, items


def series_by_name(body: Any) -> dict[str, list[dict[str, Any]]]:
    """Datadog v2 series grouped by metric name."""
    found: dict[str, list[dict[str, Any]]] = {}
    for item in body["series"]:
        found.setdefault(item["metric"], []).append(item)
    return found


def tag_value(tags: list[str], key: str) -> str | None:
    """The value of ``key:value`` in a Datadog tag list, or None."""
    for tag in tags:
        name, _, value = tag.partition(":")
        if name == key:
            return value
    return None

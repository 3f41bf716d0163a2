"""The commented vendor blocks of ``collector-config/otelcol.yaml`` are valid once uncommented.

The blocks are uncommented textually in a temporary copy, wired into the pipelines their comments
name, and the copy goes through ``otelperf check-config --strict``: the types must exist in the
pinned release, every reference must resolve and connectors must join signals they support.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from otelperf.cli import main

OTELCOL = Path(__file__).resolve().parents[2] / "collector-config" / "otelcol.yaml"

# A commented component: "  # <id>:" followed by lines "  #   <settings>".
_BLOCK_START = re.compile(r"^  # ([a-z][a-z0-9_]*(?:/[a-z0-9_-]+)?):\s*(?:#.*)?$")
_BLOCK_LINE = re.compile(r"^  #   ")

# Where each block goes, as its comment says; the test checks the comment says it.
EXPORTER_PIPELINES = {
    "datadog": ("metrics", "traces/sampled"),
    "otlp_http/newrelic": ("metrics", "traces/sampled"),
    "otlp_http/sentry": ("traces/sampled",),
}
VENDOR_COMMENT = {
    "datadog": "Datadog (exporter `datadog`): metrics pipeline and traces/sampled.",
    "otlp_http/newrelic": "New Relic (OTLP/HTTP): metrics pipeline and traces/sampled.",
    "otlp_http/sentry": "traces only: Sentry does not ingest OTLP metrics): traces/sampled.",
}
# The optional Datadog connector: "define `connectors: {datadog/connector: {}}`, add it to the
# exporters of traces/in and to the receivers of metrics".
DATADOG_CONNECTOR_COMMENT = (
    "also define `connectors: {datadog/connector: {}}`, add it to the exporters of\n"
    "  # traces/in and to the receivers of metrics."
)


def uncomment_vendor_blocks(text: str) -> tuple[str, list[str]]:
    """Uncomment every commented component block; return the text and the block IDs."""
    lines = text.splitlines()
    out: list[str] = []
    ids: list[str] = []
    in_block = False
    for line in lines:
        start = _BLOCK_START.match(line)
        if start:
            ids.append(start.group(1))
            out.append("  " + line[4:])
            in_block = True
        elif in_block and _BLOCK_LINE.match(line):
            out.append("  " + line[4:])
        else:
            in_block = False
            out.append(line)
    return "\n".join(out) + "\n", ids


def wire(config: dict[str, Any], *, datadog_connector: bool) -> None:
    """Add the uncommented exporters (and the Datadog connector) to the pipelines named."""
    pipelines = config["service"]["pipelines"]
    for exporter, names in EXPORTER_PIPELINES.items():
        for name in names:
            pipelines[name]["exporters"].append(exporter)
    if datadog_connector:
        config["connectors"]["datadog/connector"] = {}
        pipelines["traces/in"]["exporters"].append("datadog/connector")
        pipelines["metrics"]["receivers"].append("datadog/connector")


def check(tmp_path: Path, config: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> list[str]:
    path = tmp_path / "otelcol-vendors.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    code = main(["check-config", "--strict", str(path)])
    output = capsys.readouterr().out.splitlines()
    assert code == (1 if output else 0), output
    return output


class TestVendorBlocks:
    def test_blocks_are_found_and_their_comments_name_the_pipelines(self) -> None:
        """The three ready blocks exist, and the wiring used below is what their comments say."""
        text = OTELCOL.read_text(encoding="utf-8")
        uncommented, ids = uncomment_vendor_blocks(text)
        assert ids == ["datadog", "otlp_http/newrelic", "otlp_http/sentry"]
        for block, comment in VENDOR_COMMENT.items():
            assert comment in text, block
        assert DATADOG_CONNECTOR_COMMENT in text
        exporters = yaml.safe_load(uncommented)["exporters"]
        assert exporters["datadog"]["api"]["key"] == "${env:DD_API_KEY}"
        assert exporters["otlp_http/newrelic"]["headers"]["api-key"] == (
            "${env:NEW_RELIC_LICENSE_KEY}"
        )
        assert exporters["otlp_http/sentry"]["traces_endpoint"] == (
            "${env:SENTRY_OTLP_TRACES_ENDPOINT}"
        )

    @pytest.mark.parametrize("datadog_connector", [False, True])
    def test_uncommented_and_wired_config_passes_check_config(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str], datadog_connector: bool
    ) -> None:
        """With every vendor block on, check-config --strict reports nothing (exit 0)."""
        uncommented, _ = uncomment_vendor_blocks(OTELCOL.read_text(encoding="utf-8"))
        config = yaml.safe_load(uncommented)
        wire(config, datadog_connector=datadog_connector)
        assert check(tmp_path, config, capsys) == []

    def test_uncommented_but_unwired_blocks_are_reported(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Uncommenting without adding to a pipeline is caught (the check is not vacuous)."""
        uncommented, _ = uncomment_vendor_blocks(OTELCOL.read_text(encoding="utf-8"))
        output = check(tmp_path, yaml.safe_load(uncommented), capsys)
        assert [line.split(": ", 2)[2] for line in output] == [
            f"exporters.{block}: defined but not used in any pipeline" for block in VENDOR_COMMENT
        ]

    def test_a_vendor_type_missing_from_the_release_is_an_error(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Were the Datadog exporter renamed in the block, the wired copy would fail."""
        text = OTELCOL.read_text(encoding="utf-8").replace("  # datadog:", "  # data_dog:")
        uncommented, _ = uncomment_vendor_blocks(text)
        config = yaml.safe_load(uncommented)
        config["service"]["pipelines"]["metrics"]["exporters"].append("data_dog")
        output = check(tmp_path, config, capsys)
        assert any("unknown exporter type 'data_dog'" in line for line in output), output

"""``otelperf check-config`` and the fleet files it guards (collector, compose, dashboard)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from otelperf.cli import main
from otelperf.cli._collector import (
    EXPORTED_METRICS,
    KNOWN_PROMETHEUS_NAMES,
    PINNED_VERSION,
    TRANSLATION_STRATEGY,
    Catalog,
    Problem,
    check_collector_config,
    check_compose,
    check_dashboard,
    dashboard_queries,
    load_catalog,
    metric_names,
    prometheus_name,
)

REPO = Path(__file__).resolve().parents[2]
OTELCOL = REPO / "collector-config" / "otelcol.yaml"
GATEWAY_LB = REPO / "collector-config" / "gateway-loadbalancing.yaml"
GATEWAY_TS = REPO / "collector-config" / "gateway-tail-sampling.yaml"
COMPOSE = REPO / "docker-compose.yml"
DASHBOARD = REPO / "deploy" / "grafana" / "dashboards" / "otelperf.json"
DATASOURCES = REPO / "deploy" / "grafana" / "provisioning" / "datasources" / "datasources.yaml"
PROMETHEUS_YML = REPO / "deploy" / "prometheus" / "prometheus.yml"
COLLECTOR_FILES = (OTELCOL, GATEWAY_LB, GATEWAY_TS)

SPAN_METRICS_MISSES = (
    "so its counts and percentiles miss every dropped trace; "
    "export to 'span_metrics' from a pipeline upstream of the sampler"
)


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def lines(problems: list[Problem], path: str = "cfg.yaml") -> list[str]:
    return [problem.render(path) for problem in problems]


def errors(problems: list[Problem]) -> list[Problem]:
    return [problem for problem in problems if problem.severity == "error"]


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str]]:
    code = main(["check-config", *args])
    return code, capsys.readouterr().out.splitlines()


def write_yaml(path: Path, document: Any) -> Path:
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


@pytest.fixture
def otelcol() -> dict[str, Any]:
    config: dict[str, Any] = load_yaml(OTELCOL)
    return config


def minimal(**pipelines: dict[str, list[str]]) -> dict[str, Any]:
    """A small valid config; pipelines given as keyword args replace the default one."""
    return {
        "receivers": {"otlp": {"protocols": {"grpc": None}}},
        "processors": {"memory_limiter": {"limit_percentage": 80}, "batch": None},
        "connectors": {"span_metrics": None, "forward": None},
        "exporters": {"debug": None},
        "service": {
            "pipelines": pipelines
            or {"traces": {"receivers": ["otlp"], "processors": ["batch"], "exporters": ["debug"]}}
        },
    }


class TestShippedFiles:
    def test_collector_configs_have_no_problems(self, catalog: Catalog) -> None:
        """otelcol.yaml and both gateway tiers pass every check, warnings included."""
        for path in COLLECTOR_FILES:
            assert lines(check_collector_config(load_yaml(path), catalog), path.name) == []

    def test_compose_file_has_no_problems(self) -> None:
        """docker-compose.yml matches the compose schema and every host path it names exists."""
        assert lines(check_compose(load_yaml(COMPOSE), base_dir=REPO)) == []

    def test_dashboard_has_no_problems(self) -> None:
        """The Grafana dashboard queries only metric names the stack stores."""
        assert (
            lines(check_dashboard(json.loads(DASHBOARD.read_text()), KNOWN_PROMETHEUS_NAMES)) == []
        )

    def test_cli_accepts_every_shipped_file(self, capsys: pytest.CaptureFixture[str]) -> None:
        """The command exits 0 and prints nothing for the shipped files, even with --strict."""
        paths = [str(p) for p in (*COLLECTOR_FILES, COMPOSE, DASHBOARD)]
        assert run_cli(capsys, "--strict", *paths) == (0, [])


class TestBrokenCollectorConfig:
    def test_missing_exporter_definition(
        self, tmp_path: Path, otelcol: dict[str, Any], capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A pipeline exporter without a definition is reported on the pipeline that uses it."""
        del otelcol["exporters"]["otlp_grpc/jaeger"]
        path = write_yaml(tmp_path / "otelcol.yaml", otelcol)
        assert run_cli(capsys, str(path)) == (
            1,
            [
                f"{path}: service.pipelines.traces/sampled: exporter 'otlp_grpc/jaeger' is not "
                "defined under 'exporters' or 'connectors'"
            ],
        )

    def test_pipeline_refers_to_undefined_processor(
        self, tmp_path: Path, otelcol: dict[str, Any], capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A processor reference that matches no definition is reported."""
        otelcol["service"]["pipelines"]["traces/in"]["processors"].append("transform/redact")
        path = write_yaml(tmp_path / "otelcol.yaml", otelcol)
        assert run_cli(capsys, str(path)) == (
            1,
            [
                f"{path}: service.pipelines.traces/in: processor 'transform/redact' is not defined "
                "under 'processors'"
            ],
        )

    def test_unknown_component_types(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A type the pinned release lacks fails and names a close match."""
        text = OTELCOL.read_text().replace("tail_sampling", "tail_samplng")
        path = tmp_path / "otelcol.yaml"
        path.write_text(text)
        assert run_cli(capsys, str(path)) == (
            1,
            [
                f"{path}: processors.tail_samplng: unknown processor type 'tail_samplng' for "
                f"otelcol-contrib {PINNED_VERSION}; did you mean 'tail_sampling'?",
            ],
        )

    def test_pre_2026_names_are_deprecation_warnings(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Old names (otlp, otlphttp, spanmetrics, loadbalancing) warn, name the new one, exit 0.

        The rules that depend on a type (span metrics before sampling, connector signals) still
        apply to the old spelling; ``--strict`` turns the warnings into a failure.
        """
        renames = {
            "span_metrics": "spanmetrics",
            "otlp_grpc/": "otlp/",
            "otlp_http/": "otlphttp/",
            "load_balancing": "loadbalancing",
        }
        outputs = {}
        for source in (OTELCOL, GATEWAY_LB):
            text = source.read_text()
            for new, old in renames.items():
                text = text.replace(new, old)
            path = tmp_path / source.name
            path.write_text(text)
            outputs[source.name] = run_cli(capsys, str(path))
            assert run_cli(capsys, "--strict", str(path))[0] == 1
        single = tmp_path / OTELCOL.name
        assert outputs[OTELCOL.name] == (
            0,
            [
                f"{single}: warning: exporters.otlp/jaeger: exporter type 'otlp' is a deprecated "
                f"alias in otelcol-contrib {PINNED_VERSION}; use 'otlp_grpc'",
                f"{single}: warning: exporters.otlphttp/prometheus: exporter type 'otlphttp' is a "
                f"deprecated alias in otelcol-contrib {PINNED_VERSION}; use 'otlp_http'",
                f"{single}: warning: connectors.spanmetrics: connector type 'spanmetrics' is a "
                f"deprecated alias in otelcol-contrib {PINNED_VERSION}; use 'span_metrics'",
            ],
        )
        gateway = tmp_path / GATEWAY_LB.name
        assert outputs[GATEWAY_LB.name] == (
            0,
            [
                f"{gateway}: warning: exporters.loadbalancing: exporter type 'loadbalancing' is a "
                f"deprecated alias in otelcol-contrib {PINNED_VERSION}; use 'load_balancing'",
                f"{gateway}: warning: exporters.otlphttp/prometheus: exporter type 'otlphttp' is "
                f"a deprecated alias in otelcol-contrib {PINNED_VERSION}; use 'otlp_http'",
                f"{gateway}: warning: connectors.spanmetrics: connector type 'spanmetrics' is a "
                f"deprecated alias in otelcol-contrib {PINNED_VERSION}; use 'span_metrics'",
            ],
        )

    def test_rules_apply_to_the_deprecated_span_metrics_name(self, catalog: Catalog) -> None:
        """'spanmetrics' after tail sampling is the same error as 'span_metrics' there."""
        config = minimal(
            traces={
                "receivers": ["otlp"],
                "processors": ["memory_limiter"],
                "exporters": ["forward"],
            },
            **{
                "traces/sampled": {
                    "receivers": ["forward"],
                    "processors": ["memory_limiter", "tail_sampling"],
                    "exporters": ["spanmetrics"],
                },
                "metrics": {"receivers": ["spanmetrics"], "exporters": ["debug"]},
            },
        )
        config["connectors"] = {"spanmetrics": None, "forward": None}
        config["processors"]["tail_sampling"] = {"policies": []}
        found = errors(check_collector_config(config, catalog))
        assert [p.where for p in found] == ["service.pipelines.traces/sampled"], lines(found)
        assert "span metrics connector 'spanmetrics'" in found[0].message

    def test_span_metrics_after_tail_sampling_in_same_pipeline(
        self, tmp_path: Path, otelcol: dict[str, Any], capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Span metrics fed by the sampled pipeline see only kept traces: an error."""
        pipelines = otelcol["service"]["pipelines"]
        pipelines["traces/in"]["exporters"].remove("span_metrics")
        pipelines["traces/sampled"]["exporters"].append("span_metrics")
        path = write_yaml(tmp_path / "otelcol.yaml", otelcol)
        assert run_cli(capsys, str(path)) == (
            1,
            [
                f"{path}: service.pipelines.traces/sampled: span metrics connector 'span_metrics' "
                f"only sees spans that 'tail_sampling' (pipeline 'traces/sampled') kept, "
                + SPAN_METRICS_MISSES
            ],
        )

    def test_span_metrics_downstream_of_a_sampling_pipeline(
        self, otelcol: dict[str, Any], catalog: Catalog
    ) -> None:
        """A sampler in an upstream pipeline is found through the forward connector."""
        pipelines = otelcol["service"]["pipelines"]
        pipelines["traces/in"]["processors"].append("tail_sampling")
        pipelines["traces/in"]["exporters"] = ["forward/sampling"]
        pipelines["traces/sampled"]["processors"].remove("tail_sampling")
        pipelines["traces/sampled"]["exporters"].append("span_metrics")
        assert lines(check_collector_config(otelcol, catalog)) == [
            "cfg.yaml: service.pipelines.traces/sampled: span metrics connector 'span_metrics' "
            "only sees spans that 'tail_sampling' (pipeline 'traces/in') kept, "
            + SPAN_METRICS_MISSES
        ]

    def test_probabilistic_sampler_upstream_also_counts(self, catalog: Catalog) -> None:
        """Head-style sampling in the Collector biases span metrics the same way."""
        config = minimal(
            traces={
                "receivers": ["otlp"],
                "processors": ["probabilistic_sampler"],
                "exporters": ["span_metrics"],
            },
            metrics={"receivers": ["span_metrics"], "exporters": ["debug"]},
        )
        config["processors"] = {"probabilistic_sampler": {"sampling_percentage": 10}}
        problems = errors(check_collector_config(config, catalog))
        assert [p.message.split(" (")[0] for p in problems] == [
            "span metrics connector 'span_metrics' only sees spans that 'probabilistic_sampler'"
        ]

    def test_yaml_syntax_error(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """Unparsable YAML is one problem line naming the position."""
        path = tmp_path / "otelcol.yaml"
        path.write_text("receivers:\n  otlp: [\n")
        code, out = run_cli(capsys, str(path))
        assert code == 1
        assert len(out) == 1
        assert out[0].startswith(f"{path}: invalid YAML: ")
        assert "line 3" in out[0]

    def test_missing_file(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """A path that cannot be read fails with one line."""
        code, out = run_cli(capsys, str(tmp_path / "nope.yaml"))
        assert code == 1
        assert out[0].startswith(f"{tmp_path / 'nope.yaml'}: cannot read: ")


class TestCollectorRules:
    def test_connector_used_only_as_exporter(self, catalog: Catalog) -> None:
        """A connector nobody receives from is reported on the connector."""
        config = minimal(traces={"receivers": ["otlp"], "exporters": ["debug", "span_metrics"]})
        assert lines(errors(check_collector_config(config, catalog))) == [
            "cfg.yaml: connectors.span_metrics: used as an exporter in traces but no pipeline "
            "receives from it"
        ]

    def test_connector_used_only_as_receiver(self, catalog: Catalog) -> None:
        """A connector nobody exports to is reported on the connector."""
        config = minimal(
            traces={"receivers": ["otlp"], "exporters": ["debug"]},
            metrics={"receivers": ["span_metrics"], "exporters": ["debug"]},
        )
        assert lines(errors(check_collector_config(config, catalog))) == [
            "cfg.yaml: connectors.span_metrics: used as a receiver in metrics but no pipeline "
            "exports to it"
        ]

    def test_connector_between_unsupported_signals(self, catalog: Catalog) -> None:
        """span_metrics only turns traces into metrics; metrics to traces is refused both ways."""
        config = minimal(
            metrics={"receivers": ["otlp"], "exporters": ["span_metrics"]},
            traces={"receivers": ["span_metrics"], "exporters": ["debug"]},
        )
        assert lines(errors(check_collector_config(config, catalog))) == [
            "cfg.yaml: connectors.span_metrics: 'span_metrics' cannot take metrics from pipeline "
            "'metrics' to any pipeline that receives from it (it supports traces to metrics)",
            "cfg.yaml: connectors.span_metrics: 'span_metrics' cannot feed traces pipeline "
            "'traces' from any pipeline that exports to it (it supports traces to metrics)",
        ]

    def test_cycle_through_connectors(self, catalog: Catalog) -> None:
        """Pipelines that feed each other through forward connectors form a cycle."""
        config = minimal(
            **{
                "traces/a": {"receivers": ["otlp", "forward/b"], "exporters": ["forward/a"]},
                "traces/b": {"receivers": ["forward/a"], "exporters": ["forward/b", "debug"]},
            }
        )
        config["connectors"] = {"forward/a": None, "forward/b": None}
        assert lines(errors(check_collector_config(config, catalog))) == [
            "cfg.yaml: service.pipelines: pipelines form a cycle through connectors: "
            "traces/a -> traces/b -> traces/a"
        ]

    def test_pipeline_without_receivers_or_exporters(self, catalog: Catalog) -> None:
        """Each pipeline needs at least one receiver and one exporter."""
        config = minimal(traces={"processors": ["batch"]})
        assert lines(errors(check_collector_config(config, catalog))) == [
            "cfg.yaml: service.pipelines.traces: has no receivers: a pipeline needs at least one "
            "receiver",
            "cfg.yaml: service.pipelines.traces: has no exporters: a pipeline needs at least one "
            "exporter",
        ]

    def test_invalid_pipeline_id_and_repeated_reference(self, catalog: Catalog) -> None:
        """Only traces/metrics/logs/profiles are signals; a list may not repeat an ID."""
        config = minimal(
            spans={"receivers": ["otlp"], "exporters": ["debug"]},
            traces={"receivers": ["otlp", "otlp"], "exporters": ["debug"]},
        )
        assert lines(errors(check_collector_config(config, catalog))) == [
            "cfg.yaml: service.pipelines.spans: invalid pipeline ID: the signal must be one of "
            "traces, metrics, logs, profiles, optionally followed by /name",
            "cfg.yaml: service.pipelines.traces: lists receiver 'otlp' twice",
        ]

    def test_top_level_service_and_extension_problems(self, catalog: Catalog) -> None:
        """Unknown sections, unknown service keys and undefined extensions are errors."""
        config = minimal()
        config["recievers"] = {}
        config["service"]["extensions"] = ["health_check"]
        config["service"]["pipeline"] = {}
        assert lines(errors(check_collector_config(config, catalog))) == [
            "cfg.yaml: recievers: unknown top-level key (expected one of connectors, exporters, "
            "extensions, processors, receivers, service)",
            "cfg.yaml: service.pipeline: unknown key (expected extensions, pipelines, telemetry)",
            "cfg.yaml: service.extensions: extension 'health_check' is not defined under "
            "'extensions'",
        ]

    def test_missing_service_section(self, catalog: Catalog) -> None:
        """Without service there is nothing to run."""
        config = minimal()
        del config["service"]
        assert lines(errors(check_collector_config(config, catalog))) == [
            "cfg.yaml: service: missing: a Collector config needs service.pipelines"
        ]

    def test_invalid_component_id(self, catalog: Catalog) -> None:
        """A type must start with a letter; a name after '/' must not be empty."""
        config = minimal()
        config["exporters"] = {"debug": None, "1debug": None, "debug/": None}
        assert lines(errors(check_collector_config(config, catalog))) == [
            "cfg.yaml: exporters.1debug: invalid component ID: the type must start with a letter "
            "and contain only letters, digits and '_' (at most 63 characters)",
            "cfg.yaml: exporters.debug/: invalid component ID: the name after '/' is empty or has "
            "spaces",
        ]

    def test_receiver_and_connector_with_the_same_id(self, catalog: Catalog) -> None:
        """A pipeline reference must name one component, not a receiver and a connector."""
        config = minimal()
        config["receivers"]["datadog"] = None
        config["connectors"]["datadog"] = None
        assert lines(errors(check_collector_config(config, catalog))) == [
            "cfg.yaml: connectors.datadog: ambiguous ID: 'datadog' is defined both as a receiver "
            "and as a connector"
        ]

    def test_warnings_for_unused_components_and_late_memory_limiter(self, catalog: Catalog) -> None:
        """Unused components and a memory_limiter after other processors are warnings."""
        config = minimal(
            traces={
                "receivers": ["otlp"],
                "processors": ["batch", "memory_limiter"],
                "exporters": ["debug"],
            }
        )
        assert lines(check_collector_config(config, catalog)) == [
            "cfg.yaml: warning: service.pipelines.traces: 'memory_limiter' should be the first "
            "processor: data held by the processors before it is not limited",
            "cfg.yaml: warning: connectors.span_metrics: defined but not used in any pipeline",
            "cfg.yaml: warning: connectors.forward: defined but not used in any pipeline",
        ]

    def test_deprecated_alias_is_a_warning(self, catalog: Catalog) -> None:
        """A type the release accepts as a deprecated alias warns and names the current type."""
        with_alias = Catalog(
            distribution=catalog.distribution,
            version=catalog.version,
            image=catalog.image,
            types=catalog.types,
            deprecated={**catalog.deprecated, "exporter": {"logging": "debug"}},
            later_names=catalog.later_names,
            connector_signals=catalog.connector_signals,
        )
        config = minimal(traces={"receivers": ["otlp"], "exporters": ["logging"]})
        config["exporters"] = {"logging": None}
        assert lines(check_collector_config(config, with_alias)) == [
            "cfg.yaml: warning: exporters.logging: exporter type 'logging' is a deprecated alias "
            f"in otelcol-contrib {PINNED_VERSION}; use 'debug'",
            "cfg.yaml: warning: processors.memory_limiter: defined but not used in any pipeline",
            "cfg.yaml: warning: processors.batch: defined but not used in any pipeline",
            "cfg.yaml: warning: connectors.span_metrics: defined but not used in any pipeline",
            "cfg.yaml: warning: connectors.forward: defined but not used in any pipeline",
        ]

    def test_strict_fails_on_warnings(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Warnings alone exit 0; with --strict they exit 1."""
        config = minimal()
        config["exporters"]["debug/unused"] = None
        path = write_yaml(tmp_path / "otelcol.yaml", config)
        warning = f"{path}: warning: exporters.debug/unused: defined but not used in any pipeline"
        assert warning in run_cli(capsys, str(path))[1]
        assert run_cli(capsys, str(path))[0] == 0
        assert run_cli(capsys, "--strict", str(path))[0] == 1


class TestCatalog:
    def test_pinned_release_is_used_everywhere(self, catalog: Catalog) -> None:
        """The component list, the compose image and every collector config name one release."""
        assert catalog.version == PINNED_VERSION
        compose = load_yaml(COMPOSE)
        assert compose["services"]["collector"]["image"] == catalog.image
        assert catalog.image.endswith(f":{PINNED_VERSION}")
        for path in COLLECTOR_FILES:
            assert f"otelcol-contrib {PINNED_VERSION}" in path.read_text(), path.name

    def test_data_is_self_consistent(self, catalog: Catalog) -> None:
        """Later names and aliases point at registered types; connector signals name connectors."""
        for cls, names in catalog.later_names.items():
            assert set(names.values()) <= catalog.types[cls], cls
            assert not set(names) & catalog.types[cls], cls
        assert set(catalog.connector_signals) == catalog.types["connector"]
        for cls, aliases in catalog.deprecated.items():
            assert set(aliases.values()) <= catalog.types[cls], cls
            assert not set(aliases) & catalog.types[cls], cls
        assert {"otlp_grpc", "otlp_http", "load_balancing", "datadog", "sentry"} <= catalog.types[
            "exporter"
        ]
        assert {"memory_limiter", "batch", "tail_sampling", "deltatocumulative"} <= catalog.types[
            "processor"
        ]
        assert {"span_metrics", "forward", "datadog"} <= catalog.types["connector"]
        assert "health_check" in catalog.types["extension"]
        assert catalog.deprecated["connector"]["spanmetrics"] == "span_metrics"
        assert catalog.deprecated["exporter"]["otlphttp"] == "otlp_http"
        assert catalog.deprecated["exporter"]["otlp"] == "otlp_grpc"
        assert catalog.deprecated["exporter"]["loadbalancing"] == "load_balancing"

    def test_signal_pair_must_have_an_arrow(self) -> None:
        """A malformed connector signal pair in the data file is refused when loading."""
        data = {"distribution": "d", "version": "1", "image": "i", "components": {}}
        with pytest.raises(
            ValueError, match=r"connector_signals.forward: 'traces' is not 'from>to'"
        ):
            Catalog.from_dict({**data, "connector_signals": {"forward": ["traces"]}})


class TestCompose:
    def test_invalid_compose_key(self) -> None:
        """An unknown service key fails the compose schema with the key named."""
        compose = load_yaml(COMPOSE)
        compose["services"]["grafana"]["imagee"] = compose["services"]["grafana"].pop("image")
        assert lines(check_compose(compose), "docker-compose.yml") == [
            "docker-compose.yml: services.grafana: compose schema: Unevaluated properties are not "
            "allowed ('imagee' was unexpected)"
        ]

    def test_broken_copy_through_cli(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A renamed service key, a dangling depends_on and a missing mount are all reported."""
        for name in ("collector-config", "deploy"):
            (tmp_path / name).symlink_to(REPO / name)
        compose = load_yaml(COMPOSE)
        compose["services"]["jaeger"]["port"] = compose["services"]["jaeger"].pop("ports")
        compose["services"]["collector"]["depends_on"] = ["prometheus", "tempo"]
        compose["services"]["prometheus"]["volumes"][0] = "./deploy/prometheus/prom.yml:/etc/p.yml"
        path = write_yaml(tmp_path / "docker-compose.yml", compose)
        assert run_cli(capsys, str(path)) == (
            1,
            [
                f"{path}: services.jaeger: compose schema: Unevaluated properties are not allowed "
                "('port' was unexpected)",
                f"{path}: services.collector.depends_on: depends on undefined service 'tempo'",
                f"{path}: services.prometheus.volumes[0]: bind-mount source "
                "'./deploy/prometheus/prom.yml' does not exist next to the compose file",
            ],
        )

    def test_missing_build_context_and_undeclared_volume(self, tmp_path: Path) -> None:
        """Build context, Dockerfile and named volumes are checked too."""
        compose = {
            "services": {
                "app": {"build": {"context": "app", "dockerfile": "Dockerfile"}},
                "db": {"image": "postgres:17", "volumes": ["pgdata:/var/lib/postgresql/data"]},
            }
        }
        assert lines(check_compose(compose, base_dir=tmp_path), "c.yml") == [
            "c.yml: services.db.volumes[0]: named volume 'pgdata' is not declared under 'volumes'",
            "c.yml: services.app.build.context: build context 'app' does not exist next to the "
            "compose file",
            "c.yml: services.app.build.dockerfile: Dockerfile 'app/Dockerfile' does not exist next "
            "to the compose file",
        ]

    def test_compose_detected_by_content_or_forced(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A compose file with another name is found by its services; --compose forces the mode."""
        stack = write_yaml(tmp_path / "stack.yml", {"services": {"web": {"imagee": "nginx:1.27"}}})
        assert run_cli(capsys, str(stack))[1] == [
            f"{stack}: services.web: compose schema: Unevaluated properties are not allowed "
            "('imagee' was unexpected)"
        ]
        code, out = run_cli(capsys, "--compose", str(OTELCOL))
        assert code == 1
        assert len(out) == 1
        assert out[0].startswith(f"{OTELCOL}: compose schema: ")
        assert "'receivers', 'service'" in out[0]

    def test_without_jsonschema_installed(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Compose validation says which package it needs instead of crashing."""

        def missing(name: str) -> None:
            raise ImportError(name)

        monkeypatch.setattr("otelperf.cli._collector.compose.importlib.import_module", missing)
        assert lines(check_compose({"services": {}}, schema={}), "c.yml") == [
            "c.yml: validating a compose file needs the 'jsonschema' package "
            "(pip install jsonschema)"
        ]

    def test_unrecognised_and_empty_files(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A file of no known kind, and an empty one, are reported rather than passed."""
        other = write_yaml(tmp_path / "values.yaml", {"replicas": 3})
        empty = tmp_path / "empty.yaml"
        empty.write_text("")
        assert run_cli(capsys, str(other), str(empty)) == (
            1,
            [
                f"{other}: not recognised as a Collector config, a compose file (use --compose) "
                "or a Grafana dashboard",
                f"{empty}: file is empty",
            ],
        )

    def test_every_published_port_is_commented(self) -> None:
        """Each port mapping line in docker-compose.yml carries a comment saying what it is."""
        port_lines = [
            line for line in COMPOSE.read_text().splitlines() if re.match(r'\s+- "[\d.:]+"', line)
        ]
        assert len(port_lines) == 7
        assert all("#" in line for line in port_lines), port_lines

    def test_images_are_pinned(self) -> None:
        """Every image names an explicit tag other than latest."""
        for name, service in load_yaml(COMPOSE)["services"].items():
            if "image" in service:
                tag = service["image"].rpartition(":")[2]
                assert tag and tag != "latest" and "/" not in tag, name

    def test_collector_ports_match_its_config(self) -> None:
        """The compose file publishes the ports otelcol.yaml listens on and mounts that file."""
        compose = load_yaml(COMPOSE)["services"]["collector"]
        config = load_yaml(OTELCOL)
        listening = {
            config["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"].rpartition(":")[2],
            config["receivers"]["otlp"]["protocols"]["http"]["endpoint"].rpartition(":")[2],
            config["extensions"]["health_check"]["endpoint"].rpartition(":")[2],
        }
        published = {port.rpartition(":")[2] for port in compose["ports"]}
        assert listening == published == {"4317", "4318", "13133"}
        mount = compose["volumes"][0].split(":")
        assert (REPO / mount[0]).resolve() == OTELCOL
        assert compose["command"] == [f"--config={mount[1]}"]

    def test_prometheus_receives_otlp_where_the_collector_sends(self) -> None:
        """The Collector pushes to the OTLP receiver the Prometheus service enables."""
        config = load_yaml(OTELCOL)
        assert config["exporters"]["otlp_http/prometheus"]["endpoint"] == (
            "http://prometheus:9090/api/v1/otlp"
        )
        assert (
            "--web.enable-otlp-receiver" in load_yaml(COMPOSE)["services"]["prometheus"]["command"]
        )


class TestPipelineShape:
    def test_span_metrics_settings(self) -> None:
        """Span metrics: exponential histograms in seconds, bounded cardinality, expiring series."""
        connector = load_yaml(OTELCOL)["connectors"]["span_metrics"]
        assert connector["histogram"]["unit"] == "s"
        assert "exponential" in connector["histogram"]
        assert "explicit" not in connector["histogram"]
        assert connector["aggregation_cardinality_limit"] > 0
        assert connector["metrics_expiration"] == "5m"
        assert connector["aggregation_temporality"] == "AGGREGATION_TEMPORALITY_CUMULATIVE"

    def test_tail_sampling_policies_mirror_otelperf(self) -> None:
        """Errors, latency, otelperf's mark and a probabilistic floor keep a trace."""
        policies = load_yaml(OTELCOL)["processors"]["tail_sampling"]["policies"]
        assert [p["type"] for p in policies] == [
            "status_code",
            "latency",
            "string_attribute",
            "probabilistic",
        ]
        assert policies[2]["string_attribute"]["key"] == "otelperf.sampling.reason"

    def test_single_and_two_tier_layouts_share_settings(self) -> None:
        """The gateway tiers use the same sampling policies and span metrics as otelcol.yaml."""
        single = load_yaml(OTELCOL)
        assert (
            load_yaml(GATEWAY_TS)["processors"]["tail_sampling"]
            == (single["processors"]["tail_sampling"])
        )
        assert (
            load_yaml(GATEWAY_LB)["connectors"]["span_metrics"]
            == single["connectors"]["span_metrics"]
        )
        assert load_yaml(GATEWAY_LB)["exporters"]["load_balancing"]["routing_key"] == "traceID"


class TestPrometheusNames:
    @pytest.mark.parametrize(
        ("otel_name", "unit", "kind", "expected"),
        [
            (
                "http.server.request.duration",
                "s",
                "histogram",
                "http_server_request_duration_seconds",
            ),
            ("requests.count", "1", "counter", "requests_count_total"),
            ("memory.usage", "By", "gauge", "memory_usage_bytes"),
            ("cpu.utilization", "1", "gauge", "cpu_utilization_ratio"),
            ("cpu.utilization", "1", "updowncounter", "cpu_utilization"),
            ("network.io", "By/s", "counter", "network_io_bytes_per_second_total"),
            ("growth", "By/h", "gauge", "growth_bytes_per_hour"),
            ("retries", "1/s", "gauge", "retries_per_second"),
            ("queue.size", "{item}", "gauge", "queue_size"),
            ("request.seconds", "s", "histogram", "request_seconds"),
            ("jobs.total.count", "", "counter", "jobs_count_total"),
            ("2xx.responses", "", "counter", "_2xx_responses_total"),
            ("disk.free", "%", "gauge", "disk_free_percent"),
        ],
    )
    def test_translation_rules(self, otel_name: str, unit: str, kind: Any, expected: str) -> None:
        """OTLP names translate like Prometheus' UnderscoreEscapingWithSuffixes strategy."""
        assert prometheus_name(otel_name, unit, kind) == expected

    def test_table_follows_the_rules(self) -> None:
        """Each Prometheus name in the table is what the translation gives for its unit and kind."""
        for metric in EXPORTED_METRICS:
            assert prometheus_name(metric.otel_name, metric.unit, metric.kind) == (
                metric.prometheus_name
            )
        assert len(KNOWN_PROMETHEUS_NAMES) == len(EXPORTED_METRICS)

    def test_prometheus_uses_the_strategy_the_table_assumes(self) -> None:
        """prometheus.yml pins the translation strategy the names were computed with."""
        assert load_yaml(PROMETHEUS_YML)["otlp"]["translation_strategy"] == TRANSLATION_STRATEGY


class TestPromQL:
    @pytest.mark.parametrize(
        ("expr", "expected"),
        [
            ("up", {"up"}),
            (
                'histogram_quantile(0.99, sum by (le, job) (rate(x_bucket{job=~"$job"}[5m])))',
                {"x_bucket"},
            ),
            (
                "sum(rate(a_total[$__rate_interval])) by (reason) / ignoring(reason) b",
                {"a_total", "b"},
            ),
            ('{__name__="weird_name", job="x"}', {"weird_name"}),
            ("topk(5, max_over_time(c[1h] offset 1d)) > bool 0.5e3", {"c"}),
            ('label_replace(d, "dst", "$1", "src", "(.*)") and on(instance) e', {"d", "e"}),
            ("f @ start()", {"f"}),
        ],
    )
    def test_metric_names(self, expr: str, expected: set[str]) -> None:
        """Only selected metric names remain: no functions, labels, variables or numbers."""
        assert metric_names(expr) == expected

    def test_unknown_metric_in_dashboard(self) -> None:
        """A dashboard querying a classic-histogram series of a native histogram is flagged."""
        dashboard = json.loads(DASHBOARD.read_text())
        target = dashboard["panels"][1]["targets"][0]
        target["expr"] = target["expr"].replace(
            "otelperf_operation_duration_seconds", "otelperf_operation_duration_seconds_bucket"
        )
        assert lines(check_dashboard(dashboard, KNOWN_PROMETHEUS_NAMES), "d.json") == [
            "d.json: panels[1].targets[0]: query uses metric "
            "'otelperf_operation_duration_seconds_bucket', which neither otelperf nor the span "
            "metrics connector sends to Prometheus"
        ]

    def test_dashboard_covers_the_required_views(self) -> None:
        """Percentiles of both duration histograms, budget states, memory growth and leaks."""
        queries = [expr for _, expr in dashboard_queries(json.loads(DASHBOARD.read_text()))]
        for histogram in (
            "otelperf_operation_duration_seconds",
            "traces_span_metrics_duration_seconds",
        ):
            for quantile in ("0.5", "0.95", "0.99"):
                assert any(
                    f"histogram_quantile({quantile}," in q and histogram in metric_names(q)
                    for q in queries
                ), (histogram, quantile)
        used = set().union(*(metric_names(q) for q in queries))
        assert {
            "otelperf_budget_state",
            "otelperf_memory_growth_rate_bytes_per_hour",
            "otelperf_leak_suspected",
        } <= used

    def test_dashboard_datasources_are_provisioned(self) -> None:
        """Every datasource UID in the dashboard is provisioned, and Jaeger is too."""
        provisioned = {d["uid"]: d["type"] for d in load_yaml(DATASOURCES)["datasources"]}
        text = DASHBOARD.read_text()
        used = set(re.findall(r'"uid": "([^"]+)"', text)) - {"otelperf-fleet"}
        assert used == {"otelperf-prometheus"}
        assert provisioned == {"otelperf-prometheus": "prometheus", "otelperf-jaeger": "jaeger"}

    def test_variable_queries_are_checked(self) -> None:
        """label_values() variables contribute their metric selector, not the label."""
        dashboard = {
            "panels": [],
            "templating": {
                "list": [
                    {"type": "query", "query": {"query": 'label_values(m1{a="b"}, job)'}},
                    {"type": "query", "query": "label_values(job)"},
                    {"type": "custom", "query": "x,y"},
                ]
            },
        }
        assert dashboard_queries(dashboard) == [("templating.list[0]", 'm1{a="b"}')]

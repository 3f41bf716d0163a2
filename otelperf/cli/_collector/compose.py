"""Checks of a parsed docker compose file: the compose-spec JSON schema, references and host paths.

The schema is vendored (``compose_spec.json``, source in ``SOURCES.md``) so validation works offline
and without Docker. Beyond the schema this catches what ``docker compose up`` would only report at
start: ``depends_on`` and named volumes that point nowhere, and bind mounts, build contexts,
Dockerfiles and env files missing from the repository.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from otelperf.cli._collector.problems import Problem

__all__ = ["check_compose", "load_compose_schema"]


def load_compose_schema() -> dict[str, Any]:
    """Return the vendored compose-spec JSON schema."""
    data = resources.files("otelperf.cli._collector").joinpath("compose_spec.json")
    schema: dict[str, Any] = json.loads(data.read_text(encoding="utf-8"))
    return schema


def check_compose(
    document: object, *, base_dir: Path | None = None, schema: Mapping[str, Any] | None = None
) -> list[Problem]:
    """Return the problems of a parsed compose file.

    Args:
        document: The parsed YAML document.
        base_dir: Directory of the compose file; relative host paths are checked against it.
            ``None`` skips the host path checks.
        schema: Compose JSON schema; defaults to the vendored one.
    """
    problems = _schema_problems(document, schema if schema is not None else load_compose_schema())
    if isinstance(document, Mapping):
        problems.extend(_reference_problems(document))
        if base_dir is not None:
            problems.extend(_path_problems(document, base_dir))
    return problems


def _schema_problems(document: object, schema: Mapping[str, Any]) -> list[Problem]:
    try:
        # Imported here: only compose checks need it, and it is optional for the rest of otelperf.
        jsonschema = importlib.import_module("jsonschema")
    except ImportError:
        return [
            Problem(
                "",
                "validating a compose file needs the 'jsonschema' package (pip install jsonschema)",
            )
        ]
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = sorted(
        validator.iter_errors(document), key=lambda e: [str(p) for p in e.absolute_path]
    )
    problems = []
    for error in errors:
        if error.context:  # oneOf/anyOf: the closest alternative explains the failure best
            error = jsonschema.exceptions.best_match(error.context)
        where = ".".join(str(p) for p in error.absolute_path)
        problems.append(Problem(where, f"compose schema: {error.message}"))
    return problems


def _services(document: Mapping[Any, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    services = document.get("services")
    if isinstance(services, Mapping):
        for name, service in services.items():
            if isinstance(service, Mapping):
                yield str(name), service


def _reference_problems(document: Mapping[Any, Any]) -> list[Problem]:
    """Report ``depends_on`` targets and named volumes that are not declared."""
    services = {name for name, _ in _services(document)}
    volumes = document.get("volumes")
    declared_volumes = set(volumes) if isinstance(volumes, Mapping) else set()
    problems = []
    for name, service in _services(document):
        depends_on = service.get("depends_on") or ()
        for dependency in depends_on if isinstance(depends_on, (list, Mapping)) else ():
            if str(dependency) not in services:
                problems.append(
                    Problem(
                        f"services.{name}.depends_on",
                        f"depends on undefined service '{dependency}'",
                    )
                )
        for i, (kind, source) in enumerate(_volume_sources(service)):
            if kind == "volume" and source and source not in declared_volumes:
                problems.append(
                    Problem(
                        f"services.{name}.volumes[{i}]",
                        f"named volume '{source}' is not declared under 'volumes'",
                    )
                )
    return problems


def _volume_sources(service: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """Yield ``(kind, source)`` per volume entry: kind ``bind``, ``volume`` or ``other``."""
    entries = service.get("volumes")
    for entry in entries if isinstance(entries, list) else ():
        if isinstance(entry, str):
            source, sep, _ = entry.partition(":")
            if not sep:  # "/data": an anonymous volume
                yield "other", ""
            elif source.startswith((".", "/", "~", "$")):
                yield "bind", source
            else:
                yield "volume", source
        elif isinstance(entry, Mapping):
            kind = str(entry.get("type", ""))
            yield (kind if kind in ("bind", "volume") else "other"), str(entry.get("source", ""))
        else:
            yield "other", ""


def _path_problems(document: Mapping[Any, Any], base_dir: Path) -> list[Problem]:
    """Report relative host paths (mounts, builds, env files, configs) missing in ``base_dir``."""
    problems = []

    def require(where: str, what: str, raw: str, *, directory: bool = False) -> None:
        # Interpolated, absolute and home paths depend on the host that runs compose: not checked.
        if not raw or "$" in raw or raw.startswith(("/", "~")) or "://" in raw:
            return
        path = base_dir / raw
        if not (path.is_dir() if directory else path.exists()):
            problems.append(
                Problem(where, f"{what} '{raw}' does not exist next to the compose file")
            )

    for name, service in _services(document):
        build = service.get("build")
        if isinstance(build, str):
            require(f"services.{name}.build", "build context", build, directory=True)
        elif isinstance(build, Mapping):
            context = str(build.get("context", "."))
            require(f"services.{name}.build.context", "build context", context, directory=True)
            if "dockerfile_inline" not in build and "://" not in context:
                dockerfile = str(Path(context) / str(build.get("dockerfile", "Dockerfile")))
                require(f"services.{name}.build.dockerfile", "Dockerfile", dockerfile)
        for i, (kind, source) in enumerate(_volume_sources(service)):
            if kind == "bind":
                require(f"services.{name}.volumes[{i}]", "bind-mount source", source)
        env_files = service.get("env_file")
        for i, entry in enumerate([env_files] if isinstance(env_files, str) else env_files or ()):
            if isinstance(entry, Mapping) and entry.get("required") is False:
                continue
            raw = entry.get("path", "") if isinstance(entry, Mapping) else entry
            require(f"services.{name}.env_file[{i}]", "env file", str(raw))
    for section in ("configs", "secrets"):
        entries = document.get(section)
        for key, entry in entries.items() if isinstance(entries, Mapping) else ():
            if isinstance(entry, Mapping) and isinstance(entry.get("file"), str):
                require(f"{section}.{key}.file", f"{section[:-1]} file", entry["file"])
    return problems

"""Package-level contracts: the public names, the pure core's imports, the entry points."""

from __future__ import annotations

import ast
import importlib
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType

import pytest

import otelperf

PACKAGE = Path(otelperf.__file__).parent
PURE = ("aggregates", "budgets", "leaks")


def _imports_of(path: Path, package: str | None = None) -> set[str]:
    """Absolute module names imported by one source file (relative imports resolved)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    if package is None:
        package = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1])
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                names.add(f"{base}.{node.module}" if node.module else base)
            elif node.module:
                names.add(node.module)
    return names


def _module_file(name: str) -> Path | None:
    parts = name.split(".")
    if parts[0] != "otelperf":
        return None
    candidate = PACKAGE.parent.joinpath(*parts)
    if candidate.with_suffix(".py").exists():
        return candidate.with_suffix(".py")
    if (candidate / "__init__.py").exists():
        return candidate / "__init__.py"
    return None


class TestPublicApi:
    def test_all_lists_exactly_the_public_objects(self) -> None:
        """otelperf.__all__ names every public non-module attribute and nothing else."""
        public = {
            name
            for name, value in vars(otelperf).items()
            if not name.startswith("_") and not isinstance(value, ModuleType)
        }
        assert sorted(otelperf.__all__) == sorted(public)

    @pytest.mark.parametrize(
        ("group", "value"),
        [
            ("opentelemetry_distro", "otelperf._distro:OtelperfDistro"),
            ("opentelemetry_configurator", "otelperf._distro:OtelperfConfigurator"),
            ("opentelemetry_post_instrument", "otelperf._distro:post_instrument"),
        ],
    )
    def test_entry_points_are_registered_under_the_name_otelperf(
        self, group: str, value: str
    ) -> None:
        """The installed package registers its OTel entry points under the name 'otelperf'."""
        found = {ep.name: ep.value for ep in entry_points(group=group)}
        assert found.get("otelperf") == value

    def test_package_is_typed(self) -> None:
        """py.typed ships with the package."""
        assert (PACKAGE / "py.typed").exists()


class TestPureCore:
    @pytest.mark.parametrize("package", PURE)
    def test_pure_packages_never_import_opentelemetry(self, package: str) -> None:
        """aggregates, budgets and leaks import no opentelemetry module, even transitively."""
        seen: set[Path] = set()
        todo = sorted((PACKAGE / package).rglob("*.py"))
        offenders: list[str] = []
        while todo:
            path = todo.pop()
            if path in seen:
                continue
            seen.add(path)
            for name in _imports_of(path):
                if name.split(".")[0] == "opentelemetry":
                    offenders.append(f"{path.relative_to(PACKAGE.parent)} imports {name}")
                elif (target := _module_file(name)) is not None:
                    todo.append(target)
        assert offenders == []
        assert seen, f"otelperf/{package} has no modules"

    def test_import_checker_detects_an_opentelemetry_import(self, tmp_path: Path) -> None:
        """The checker above is not vacuous: it sees a plain opentelemetry import."""
        module = tmp_path / "m.py"
        module.write_text("from opentelemetry import trace\nimport opentelemetry.sdk\n")
        assert {"opentelemetry", "opentelemetry.sdk"} <= _imports_of(module, package="x")

    @pytest.mark.parametrize("package", PURE)
    def test_pure_packages_import(self, package: str) -> None:
        """Each pure package imports cleanly."""
        importlib.import_module(f"otelperf.{package}")

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
# Modules outside those packages whose docstrings call them pure (no opentelemetry import).
PURE_MODULES = (
    "processors/_tail_policy.py",
    "processors/_trace_book.py",
    "live/summary.py",
    "live/timeline.py",
    "report/model.py",
)


def _imports_of(path: Path, package: str | None = None) -> set[str]:
    """Absolute module names imported by one source file (relative imports resolved).

    ``from a.b import c`` yields ``a.b`` and ``a.b.c`` (``c`` may be a submodule; a name that
    is not one is dropped by :func:`_module_file`).
    """
    tree = ast.parse(path.read_text(), filename=str(path))
    if package is None and path.is_relative_to(PACKAGE.parent):
        package = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1])
    package = package or ""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{base}.{node.module}" if node.module else base
            elif node.module:
                module = node.module
            else:
                continue
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names if alias.name != "*")
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


def _opentelemetry_imports(paths: list[Path]) -> tuple[list[str], set[Path]]:
    """The opentelemetry imports of ``paths`` and of the otelperf modules they import, and
    every file visited."""
    seen: set[Path] = set()
    todo = sorted(paths)
    offenders: list[str] = []
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in _imports_of(path):
            if name.split(".")[0] == "opentelemetry":
                shown = path.relative_to(PACKAGE.parent) if path.is_relative_to(PACKAGE) else path
                offenders.append(f"{shown} imports {name}")
            elif (target := _module_file(name)) is not None:
                todo.append(target)
    return offenders, seen


class TestPureCore:
    @pytest.mark.parametrize("package", PURE)
    def test_pure_packages_never_import_opentelemetry(self, package: str) -> None:
        """aggregates, budgets and leaks import no opentelemetry module, even transitively."""
        offenders, seen = _opentelemetry_imports(list((PACKAGE / package).rglob("*.py")))
        assert offenders == []
        assert seen, f"otelperf/{package} has no modules"

    @pytest.mark.parametrize("module", PURE_MODULES)
    def test_modules_that_call_themselves_pure_never_import_opentelemetry(
        self, module: str
    ) -> None:
        """Each module documented as pure imports no opentelemetry module, even transitively."""
        path = PACKAGE / module
        assert "pure" in (ast.get_docstring(ast.parse(path.read_text())) or "").lower()
        offenders, _ = _opentelemetry_imports([path])
        assert offenders == []

    def test_import_checker_follows_submodules_imported_by_name(self, tmp_path: Path) -> None:
        """``from otelperf.processors import latency`` is followed into that submodule."""
        module = tmp_path / "m.py"
        module.write_text("from otelperf.processors import latency\n")
        assert "otelperf.processors.latency" in _imports_of(module, package="x")
        offenders, seen = _opentelemetry_imports([module])
        assert PACKAGE / "processors" / "latency.py" in seen
        assert any("latency.py imports opentelemetry" in line for line in offenders)

    def test_import_checker_detects_an_opentelemetry_import(self, tmp_path: Path) -> None:
        """The checker above is not vacuous: it sees a plain opentelemetry import."""
        module = tmp_path / "m.py"
        module.write_text("from opentelemetry import trace\nimport opentelemetry.sdk\n")
        assert {"opentelemetry", "opentelemetry.sdk"} <= _imports_of(module, package="x")

    @pytest.mark.parametrize("package", PURE)
    def test_pure_packages_import(self, package: str) -> None:
        """Each pure package imports cleanly."""
        importlib.import_module(f"otelperf.{package}")

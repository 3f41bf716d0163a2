from __future__ import annotations

import ast
from pathlib import Path
from types import ModuleType

import otelperf.alerts

ALERTS_DIR = Path(otelperf.alerts.__file__).parent


class TestAlertsPackage:
    def test_all_lists_exactly_the_public_objects(self) -> None:
        """__all__ names every public object of otelperf.alerts and nothing else."""
        public = {
            name
            for name, value in vars(otelperf.alerts).items()
            if not name.startswith("_") and not isinstance(value, ModuleType)
        }
        assert sorted(otelperf.alerts.__all__) == sorted(public)

    def test_no_direct_opentelemetry_imports(self) -> None:
        """Alert code reaches OTel only through otelperf._safety (instrumentation suppression)."""
        offenders = []
        for path in sorted(ALERTS_DIR.glob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                names = []
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module]
                offenders += [
                    f"{path.name}: {n}" for n in names if n.split(".")[0] == "opentelemetry"
                ]
        assert offenders == []

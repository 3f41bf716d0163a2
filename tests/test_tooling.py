"""The developer tooling STYLE §11 asks for exists and is consistent with the venv."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).parents[1]
BIN = Path(sys.executable).parent


def test_pre_commit_config_is_valid() -> None:
    """pre-commit accepts the config, and every hook runs a tool the venv installs."""
    config = ROOT / ".pre-commit-config.yaml"
    done = subprocess.run(
        [str(BIN / "pre-commit"), "validate-config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    hooks = [hook for repo in yaml.safe_load(config.read_text())["repos"] for hook in repo["hooks"]]
    assert {hook["id"] for hook in hooks} >= {
        "ruff-check",
        "ruff-format",
        "mypy",
        "check-toml",
        "check-yaml",
    }
    for hook in hooks:
        tool = Path(hook["entry"].split()[0]).name
        assert (BIN / tool).exists(), f"{hook['id']}: {tool} is not installed by otelperf[dev]"


def test_typing_usage_file_is_type_checked() -> None:
    """tests/typing/public_api.py is inside mypy's configured files (it is not a pytest module)."""
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'files = ["otelperf", "tests"' in pyproject
    assert (ROOT / "tests" / "typing" / "public_api.py").exists()


def test_configure_keywords_are_the_settings() -> None:
    """ConfigureKwargs (what type checkers see) lists exactly the settings, no more, no less."""
    from otelperf._kwargs import ConfigureKwargs
    from otelperf._settings import SETTINGS

    assert set(ConfigureKwargs.__annotations__) == {f.name for f in SETTINGS}
    assert ConfigureKwargs.__total__ is False

"""The repository keeps its promises to a new user: the README's set-up commands are the ones CI runs,
and every connector the package advertises can be imported."""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SETUP_COMMANDS = ["make demo", "make test"]


def _setup_section() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"^## Set up\s*$(.*?)(?=^## )", text, re.MULTILINE | re.DOTALL)
    assert match, "README.md needs a '## Set up' section followed by another '## ' section"
    return match.group(1)


def _commands_in(section: str) -> list[str]:
    """Lines inside fenced code blocks of the section."""
    blocks = re.findall(r"^```[^\n]*\n(.*?)^```", section, re.MULTILINE | re.DOTALL)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip()]


def test_readme_setup_has_exactly_the_two_commands() -> None:
    assert _commands_in(_setup_section()) == SETUP_COMMANDS


def test_ci_runs_the_readme_test_command() -> None:
    script = ROOT / ".ci" / "run"
    text = script.read_text(encoding="utf-8")
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in text
    code = [line.split("#", 1)[0] for line in text.splitlines()]
    assert any(re.search(r"\bmake test\b", line) for line in code), ".ci/run must run `make test`"
    assert script.stat().st_mode & 0o111, ".ci/run must be executable"


def test_make_test_target_exists() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^test:", makefile, re.MULTILINE)
    assert re.search(r"^demo:", makefile, re.MULTILINE)


def _source_entry_points() -> list[importlib.metadata.EntryPoint]:
    return sorted(importlib.metadata.entry_points(group="urbanbrain.sources"), key=lambda ep: ep.name)


def test_source_entry_points_are_installed() -> None:
    names = {ep.name for ep in _source_entry_points()}
    assert {"postgres", "mysql", "sqlite", "files", "rest"} <= names, (
        f"urbanbrain.sources entry points: {sorted(names)}; reinstall with scripts/bootstrap.sh"
    )


@pytest.mark.parametrize("entry_point", _source_entry_points(), ids=lambda ep: ep.name)
def test_source_entry_point_imports(entry_point: importlib.metadata.EntryPoint) -> None:
    assert entry_point.load() is not None

"""`urbanbrain --help` stays instant: the heavy libraries load only with the commands that use them.

Each check runs in a fresh interpreter (this test process has imported everything already) and looks
at `sys.modules` after the command, so it fails the moment any module on the help path imports one of
them at top level. Timing is bench/cli's job; these assert only what is imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from urbanbrain.cli.main import COMMANDS
from urbanbrain.link import golden

HEAVY = ("pyiceberg", "pandas", "duckdb", "splink", "sklearn", "pyarrow", "jieba", "fastapi", "uvicorn",
         "alembic", "urbanbrain.lake.engine", "urbanbrain.capability.gateway")

PROBE = """
import json, sys
from urbanbrain.cli.main import main
for argv in json.loads(sys.argv[1]):
    sys.argv = ["urbanbrain", *argv]
    try:
        main()
    except SystemExit as exc:
        assert exc.code in (0, None), (argv, exc.code)
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in {h.split(".")[0] for h in HEAVY}
                        and any(m == h or m.startswith(h + ".") for h in HEAVY))))
"""


def _imported_after(commands: list[list[str]], home: Path) -> list[str]:
    env = {**os.environ, "URBANBRAIN_HOME": str(home)}
    code = f"HEAVY = {HEAVY!r}\n{PROBE}"
    proc = subprocess.run([sys.executable, "-c", code, json.dumps(commands)], env=env, capture_output=True,
                          text=True, timeout=300)  # a hang guard, not a timing assert
    assert proc.returncode == 0, proc.stderr[-2000:]
    return list(json.loads(proc.stdout.strip().splitlines()[-1]))


def test_top_level_help_imports_no_heavy_library(ub_home: Path) -> None:
    assert _imported_after([["--help"]], ub_home) == []


def test_every_group_help_imports_no_heavy_library(ub_home: Path) -> None:
    commands = [[name, "--help"] for name in COMMANDS]
    assert _imported_after(commands, ub_home) == []


@pytest.mark.parametrize("command", [["dept", "list"], ["system", "list"]])
def test_metadata_listings_skip_the_lake_and_the_gateway(ub_home: Path, command: list[str]) -> None:
    _imported_after([command], ub_home)  # the first run creates the metadata database (Alembic)
    assert _imported_after([command], ub_home) == []


def test_top_level_help_lists_every_command() -> None:
    proc = subprocess.run([sys.executable, "-m", "urbanbrain.cli.main", "--help"], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    for name, (_, _, short_help) in COMMANDS.items():
        assert name in proc.stdout and short_help.split(":")[0] in proc.stdout
    assert "<bool>" not in proc.stdout


def test_link_rule_help_names_every_golden_rule() -> None:
    proc = subprocess.run([sys.executable, "-m", "urbanbrain.cli.main", "link", "rule", "--help"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    for rule in golden.RULES:
        assert rule in proc.stdout

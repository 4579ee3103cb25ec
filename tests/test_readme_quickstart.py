"""The README's Quick start, run verbatim (issue 13): every `$ ` command in its console block, with the
output lines it shows checked against what the command prints.

The only change is the database name (`ub_quickstart` gets this run's suffix, so a reader's own quick
start and parallel test runs are left alone); the commands run through bash with `.venv/bin` first on
PATH, as the README says `urbanbrain` is `.venv/bin/urbanbrain`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest

ROOT = Path(__file__).resolve().parents[1]


def quick_start() -> list[tuple[str, list[str], bool]]:
    """(command, expected output lines, whether they are checked) for each `$ ` command of the Quick
    start's console block; a command with a `# (...)` note shows an abridged picture, not checked."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = section.split("```console\n", 1)[1].split("```", 1)[0]
    steps: list[tuple[str, list[str], bool]] = []
    lines = block.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line.startswith("$ "):
            continue
        command = line[2:]
        while command.endswith("\\") or (command.count('"') % 2 == 1 and i < len(lines)):
            command = command.rstrip("\\").rstrip() + " " + lines[i].strip() if command.endswith("\\") \
                else command + "\n" + lines[i]
            i += 1
        expected: list[str] = []
        while i < len(lines) and lines[i].strip() and not lines[i].startswith("$ "):
            expected.append(lines[i])
            i += 1
        steps.append((re.sub(r"\s+#.*$", "", command), expected, "#" not in command))
    return steps


def test_the_quick_start_has_its_steps() -> None:
    commands = [c for c, _, _ in quick_start()]
    assert commands[0].startswith("psql ") and "examples/quickstart.sql" in commands[0]
    assert any(c.startswith("urbanbrain sync ") for c in commands)
    assert any(c.startswith("urbanbrain sql ") for c in commands)


@pytest.mark.postgres
def test_the_quick_start_works_verbatim(ub_home: Path, tmp_path: Path) -> None:
    if shutil.which("psql") is None:
        pytest.fail("psql (PostgreSQL's client) is required: the README's first command uses it")
    database = f"ub_quickstart_{uuid.uuid4().hex[:8]}"
    sql = (ROOT / "examples" / "quickstart.sql").read_text(encoding="utf-8").replace("ub_quickstart", database)
    (tmp_path / "examples").mkdir()
    (tmp_path / "examples" / "quickstart.sql").write_text(sql, encoding="utf-8")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "URBANBRAIN_HOME": str(ub_home), "COLUMNS": "200"}
    try:
        for command, expected, checked in quick_start():
            run = command.replace("ub_quickstart", database)
            done = subprocess.run(["bash", "-c", run], cwd=tmp_path, env=env, capture_output=True, text=True,
                                  timeout=600)  # a hang guard
            output = done.stdout + done.stderr
            assert done.returncode == 0, f"{command}\n{output[-3000:]}"
            if not checked:
                continue
            for line in (e.replace("ub_quickstart", database) for e in expected):
                if "..." in line:  # the README elides a changing part (times, run IDs)
                    head = line.split("...", 1)[0].strip()
                    assert head in output, f"{command}: expected a line starting {head!r}\n{output[-2000:]}"
                else:
                    assert line.strip() in output, f"{command}: expected {line.strip()!r}\n{output[-2000:]}"
    finally:
        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')

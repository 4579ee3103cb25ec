"""CLI latency: what `urbanbrain --help`, every `urbanbrain <group> --help` and the simple listings cost.

**Reference.** `python -c pass` with the same interpreter, in the same run: the floor any Python CLI
pays to start. **Measured.** CPU seconds (user + system, from `wait4`) and wall seconds of each
command in a child process, best of `--repeat`; the listings (`dept list`, `system list`) run in a
scratch home whose metadata database was created by a warm-up call first.

**Targets** (the issue's): `urbanbrain --help` and each `<group> --help` under 0.3 s CPU; `dept list`
and `system list` under 1 s CPU. Ratios against the reference are printed and saved, so two machines
can be compared.

    .venv/bin/python bench/cli.py              # best of 3
    .venv/bin/python bench/cli.py --repeat 5
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
WORK = BENCH_DIR / ".work"
HELP_TARGET_CPU = 0.3
LIST_TARGET_CPU = 1.0


def _urbanbrain() -> list[str]:
    """The installed console script next to this interpreter (what a user runs), else `-m`."""
    script = Path(sys.executable).with_name("urbanbrain")
    return [str(script)] if script.exists() else [sys.executable, "-m", "urbanbrain.cli.main"]


def _cost(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {err.decode(errors='replace')[-500:]}")
    return usage.ru_utime + usage.ru_stime, wall


def _best(cmd: list[str], env: dict[str, str], repeat: int) -> tuple[float, float]:
    runs = [_cost(cmd, env) for _ in range(repeat)]
    return min(r[0] for r in runs), min(r[1] for r in runs)


def _groups() -> list[str]:
    sys.path.insert(0, str(BENCH_DIR.parent / "src"))
    from urbanbrain.cli.main import COMMANDS

    return list(COMMANDS)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="runs per command; the fastest counts (default 3)")
    args, _ = parser.parse_known_args(argv)
    repeat = max(1, args.repeat)

    WORK.mkdir(parents=True, exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix="cli-home-", dir=WORK))
    env = {**os.environ, "URBANBRAIN_HOME": str(home)}
    env.pop("URBANBRAIN_DATABASE_URL", None)
    load = os.getloadavg()[0]
    if load > 1.0:
        print(f"warning: load average {load:.1f} on {os.cpu_count()} CPUs; timings will be noisy", flush=True)
    ub = _urbanbrain()
    try:
        ref_cpu, ref_wall = _best([sys.executable, "-c", "pass"], env, repeat)
        rows: list[dict[str, Any]] = []

        def measure(label: str, cmd: list[str], target: float) -> None:
            cpu, wall = _best(cmd, env, repeat)
            rows.append({"command": label, "cpu_s": cpu, "wall_s": wall, "target_cpu_s": target,
                         "cpu_over_reference": cpu / ref_cpu if ref_cpu else float("nan"), "met": cpu < target})

        measure("urbanbrain --help", [*ub, "--help"], HELP_TARGET_CPU)
        for group in _groups():
            measure(f"urbanbrain {group} --help", [*ub, group, "--help"], HELP_TARGET_CPU)
        _cost([*ub, "dept", "list"], env)  # warm-up: creates the metadata database
        measure("urbanbrain dept list", [*ub, "dept", "list"], LIST_TARGET_CPU)
        measure("urbanbrain system list", [*ub, "system", "list"], LIST_TARGET_CPU)
    finally:
        shutil.rmtree(home, ignore_errors=True)

    print(f"reference `python -c pass`: {ref_cpu * 1000:.0f} ms CPU, {ref_wall * 1000:.0f} ms wall (best of {repeat})")
    print(f"{'command':<34}{'CPU ms':>8}{'wall ms':>9}{'x ref':>8}{'target':>9}")
    for r in rows:
        mark = "" if r["met"] else "  MISSED"
        print(f"{r['command']:<34}{r['cpu_s'] * 1000:>8.0f}{r['wall_s'] * 1000:>9.0f}"
              f"{r['cpu_over_reference']:>8.1f}{r['target_cpu_s'] * 1000:>7.0f}ms{mark}")
    helps = [r for r in rows if r["command"].endswith("--help")]
    lists = [r for r in rows if not r["command"].endswith("--help")]
    result: dict[str, Any] = {
        "benchmark": "cli",
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "load_average_before": load, "repeat": repeat,
        "reference_cpu_s": ref_cpu, "reference_wall_s": ref_wall, "commands": rows,
        "targets": {"help_under_0.3s_cpu_met": all(r["met"] for r in helps),
                    "lists_under_1s_cpu_met": all(r["met"] for r in lists)},
    }
    (WORK / "cli.json").write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    outcome = main()
    sys.exit(0 if all(outcome["targets"].values()) else 1)

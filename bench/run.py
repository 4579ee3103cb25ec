"""Run urbanbrain's benchmarks: `python bench/run.py [names...] [options]` (default: all of them).

Options the runner does not know are passed to every selected benchmark, e.g.
`python bench/run.py ingest --rows 500000`. Each benchmark prints its own table and writes
bench/.work/<name>.json; the runner prints a one-line summary per benchmark at the end and exits
non-zero if a benchmark failed or missed a target.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent

# name -> module file in bench/; each module has `main(argv) -> dict` with a "targets" entry.
BENCHMARKS: dict[str, str] = {
    "ingest": "ingest.py",
    "demo": "demo.py",
    "gateway": "gateway.py",
    "audit": "audit.py",
    "govern": "govern.py",
    "link": "link.py",
    "link_quality": "link_quality.py",
    "cases": "cases.py",
    "cli": "cli.py",
    "scale": "scale.py",
    "scale_ray": "scale_ray.py",
    "stream": "stream.py",
    "ioc": "ioc.py",
}


def _load(name: str) -> ModuleType:
    path = BENCH_DIR / BENCHMARKS[name]
    spec = importlib.util.spec_from_file_location(f"ub_bench_{name}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _targets_met(result: dict[str, Any] | None) -> bool:
    if not result:
        return False
    return all(v for k, v in result.get("targets", {}).items() if k.endswith("_met") or k == "correct")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (default all: {', '.join(BENCHMARKS)})")
    args, rest = parser.parse_known_args(argv)
    # options belong to the benchmarks; a bare word that is not a benchmark is an option's value
    names = [n for n in args.names if n in BENCHMARKS]
    rest = [n for n in args.names if n not in BENCHMARKS] + rest
    names = names or list(BENCHMARKS)

    summary: list[tuple[str, str, float]] = []
    for name in names:
        print(f"=== {name} ===", flush=True)
        start = time.perf_counter()
        try:
            result = _load(name).main(rest)
            status = "ok" if _targets_met(result) else "targets missed"
        except SystemExit as exc:
            if exc.code in (0, None):
                raise
            print(exc, file=sys.stderr)
            status = "failed"
        summary.append((name, status, time.perf_counter() - start))

    print("\n=== summary ===")
    for name, status, seconds in summary:
        print(f"{name:<12}{status:<16}{seconds:>8.1f}s")
    return 0 if all(s == "ok" for _, s, _ in summary) else 1


if __name__ == "__main__":
    sys.exit(main())

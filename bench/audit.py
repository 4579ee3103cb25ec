"""Gateway throughput with and without the audit log: `python bench/run.py audit [--calls N] [--rounds R]`.

In one process, against a fresh SQLite store: the `echo` capability called through `gateway.invoke` (key
check, grant, quota, schema, metering — everything but HTTP) N times with audit off (its `record` made a
no-op for the run), then N times with audit on (every call buffered and chained by the background
thread). Each side's time includes flushing what it buffered, so the audit side pays for writing its
chain. Rounds alternate off/on and the best of each is compared. Target: audit on >= 0.8x of off.
Writes bench/.work/audit.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
WORK = BENCH_DIR / ".work"
TARGET_RATIO = 0.8
sys.path.insert(0, str(BENCH_DIR.parent))  # tests.capability.gateway_helpers builds the calling city


def _loop(calls: int, key: str) -> float:
    from urbanbrain.capability import gateway, metering
    from urbanbrain.govern import audit

    start = time.perf_counter()
    for i in range(calls):
        gateway.invoke("echo", 1, {"message": f"call {i}"}, key)
    metering.flush_all()
    audit.flush()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    args, _ = parser.parse_known_args(argv)

    home = tempfile.mkdtemp(prefix="ub-bench-audit-")
    os.environ["URBANBRAIN_HOME"] = home
    os.environ.pop("URBANBRAIN_DATABASE_URL", None)
    from tests.capability.gateway_helpers import caller, publish_echo

    from urbanbrain.core.settings import get_settings
    from urbanbrain.govern import audit

    get_settings.cache_clear()
    publish_echo()
    key = caller("bench-app", "bench", per_minute=10_000_000, per_day=10_000_000).key
    _loop(200, key)  # warm caches, threads and the SQLite file

    real_record = audit.record
    off_times, on_times = [], []
    for _ in range(args.rounds):
        audit.record = lambda *a, **k: None  # type: ignore[assignment]
        off_times.append(_loop(args.calls, key))
        audit.record = real_record  # type: ignore[assignment]
        on_times.append(_loop(args.calls, key))
    verified = audit.verify()

    off_rate, on_rate = args.calls / min(off_times), args.calls / min(on_times)
    ratio = on_rate / off_rate
    print(f"\ngateway.invoke('echo') x {args.calls:,} per round, best of {args.rounds} (SQLite store, in process)")
    print(f"{'audit off':<14}{off_rate:>10,.0f} calls/s")
    print(f"{'audit on':<14}{on_rate:>10,.0f} calls/s")
    verdict = "ok" if ratio >= TARGET_RATIO else "MISSED"
    print(f"ratio on/off  {ratio:.2f}x   (target >= {TARGET_RATIO:.1f}x)   {verdict}")
    print(f"chain after the run: {verified.entries:,} entries, intact={verified.ok}")
    result = {"calls": args.calls, "rounds": args.rounds, "off_calls_per_s": off_rate, "on_calls_per_s": on_rate,
              "targets": {"ratio": ratio, "ratio_met": ratio >= TARGET_RATIO, "correct": verified.ok}}
    WORK.mkdir(exist_ok=True)
    (WORK / "audit.json").write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main(sys.argv[1:])

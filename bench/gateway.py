"""Gateway overhead: a capability call with every rule on, against a bare Starlette route.

Two servers run side by side under the same uvicorn settings (one process each, loopback):

* (a) a bare Starlette route returning the same small JSON body the gateway returns;
* (b) `POST /capabilities/echo/v1/invoke` on urbanbrain's real app: API key, grant, quota,
  schema validation, metering (buffered, flushed to the metadata store) — nothing inside the call.

Peak throughput comes from `wrk` (closed loop, `--connections` connections, `--seconds` each, best of
`--repeat`). Latency is then measured open loop at half of (b)'s peak rate, for both servers, by a
paced client that sends each request at its scheduled time and counts latency from that time (so a
stall is charged to the server, not hidden by the client waiting). Targets: (b)/(a) throughput ≥ 0.5,
p99(b) − p99(a) ≤ 5 ms at that rate.

`python bench/gateway.py` or `python bench/run.py gateway`; `--help` for options.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
WORK = BENCH_DIR / ".work"
BODY = {"message": "hi"}
LUA = """
wrk.method = "POST"
wrk.body = '{body}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-API-Key"] = "{key}"
"""


def bare_app() -> Any:
    """(a): what the gateway returns for echo, from one Starlette route that does nothing else."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    async def invoke(request: Request) -> Response:
        params = json.loads(await request.body() or b"{}")
        return Response(json.dumps({"data": {"echo": params}}).encode(), media_type="application/json")

    return Starlette(routes=[Route("/capabilities/echo/v1/invoke", invoke, methods=["POST"])])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _prepare_city(home: Path) -> str:
    """A fresh home with echo published and one consumer of another department granted it; its key."""
    os.environ["URBANBRAIN_HOME"] = str(home)
    from urbanbrain.capability import catalog, consumers, grants
    from urbanbrain.core.settings import get_settings
    from urbanbrain.meta.departments import add_department

    get_settings.cache_clear()
    catalog.publish_builtins(["echo"])
    add_department("Ecology and Environment", "ecology")
    consumers.add_consumer("bench-app", "ecology")
    key = consumers.create_key("bench-app").key
    grant = grants.request_grant("bench-app", "echo", per_minute=100_000_000, per_day=1_000_000_000)
    grants.approve_grant(grant.id, approver="bench", department=grant.owner)
    return key


def _start(target: list[str], env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "uvicorn", *target, "--host", "127.0.0.1", "--port", str(port),
           "--no-access-log", "--log-level", "warning"]
    proc = subprocess.Popen(cmd, env=env, cwd=BENCH_DIR)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server {' '.join(target)} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"server {' '.join(target)} did not start on port {port} within 30 s")


def _wrk(url: str, key: str, connections: int, seconds: int) -> float:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(LUA.replace("{body}", json.dumps(BODY)).replace("{key}", key))
        script = f.name
    try:
        out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "-s", script, url],
                             capture_output=True, text=True, check=True).stdout
    finally:
        os.unlink(script)
    if "Non-2xx" in out:
        raise SystemExit(f"wrk saw error responses from {url}:\n{out}")
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not match:
        raise SystemExit(f"could not read wrk's output:\n{out}")
    return float(match.group(1))


async def _paced(port: int, key: str, rate: float, seconds: float, connections: int) -> dict[str, float]:
    """Open loop: request i is due at start + i/rate; its latency runs from that moment to the last byte."""
    body = json.dumps(BODY).encode()
    head = (f"POST /capabilities/echo/v1/invoke HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: application/json\r\nX-API-Key: {key}\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    total = int(rate * seconds)
    latencies: list[float] = []
    errors = 0
    queue: asyncio.Queue[float] = asyncio.Queue()

    async def connection() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while True:
            due = await queue.get()
            if due < 0:
                break
            writer.write(head + body)
            status = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - due)
            if b" 200 " not in status:
                errors += 1
        writer.close()

    workers = [asyncio.create_task(connection()) for _ in range(connections)]
    start = time.perf_counter() + 0.1
    for i in range(total):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        queue.put_nowait(due)
    for _ in workers:
        queue.put_nowait(-1.0)
    await asyncio.gather(*workers)
    achieved = total / (time.perf_counter() - start)
    ms = sorted(x * 1000 for x in latencies)
    return {"rate": achieved, "p50_ms": statistics.median(ms), "p99_ms": ms[int(len(ms) * 0.99) - 1],
            "errors": float(errors)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10, help="length of each wrk run (default 10)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    parser.add_argument("--repeat", type=int, default=2, help="wrk runs per server; the best counts (default 2)")
    parser.add_argument("--paced-seconds", type=float, default=10.0, help="length of each paced run (default 10)")
    args = parser.parse_args(argv)
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed: apt-get install wrk")

    home = WORK / "gateway-home"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    key = _prepare_city(home)
    # (b) runs as `urbanbrain serve` runs it: metering and audit written by a child process (cli/serve.py)
    env = {"URBANBRAIN_WRITER_PROCESS": "true", **os.environ, "URBANBRAIN_HOME": str(home),
           "PYTHONPATH": str(BENCH_DIR)}
    ports = {"a": _free_port(), "b": _free_port()}
    servers = {
        "a": _start(["--factory", "gateway:bare_app"], env, ports["a"]),
        "b": _start(["--factory", "urbanbrain.web.app:create_app"], env, ports["b"]),
    }
    try:
        url = {n: f"http://127.0.0.1:{p}/capabilities/echo/v1/invoke" for n, p in ports.items()}
        for n in servers:  # warm up: imports, first query plans, caches
            _wrk(url[n], key, args.connections, 2)
        peak = {n: 0.0 for n in servers}
        for _ in range(max(1, args.repeat)):
            for n in servers:  # interleaved, so drift on a shared machine hits both alike
                peak[n] = max(peak[n], _wrk(url[n], key, args.connections, args.seconds))
        rate = peak["b"] / 2
        paced = {n: asyncio.run(_paced(ports[n], key, rate, args.paced_seconds, 16)) for n in servers}
    finally:
        for proc in servers.values():
            proc.terminate()
            proc.wait(10)

    ratio = peak["b"] / peak["a"]
    added = paced["b"]["p99_ms"] - paced["a"]["p99_ms"]
    print(f"{'server':<40}{'peak req/s':>12}{'rate':>10}{'p50 ms':>9}{'p99 ms':>9}")
    for n, label in (("a", "(a) bare Starlette route"), ("b", "(b) gateway: echo, all rules on")):
        p = paced[n]
        print(f"{label:<40}{peak[n]:>12,.0f}{p['rate']:>10,.0f}{p['p50_ms']:>9.2f}{p['p99_ms']:>9.2f}")
    print(f"throughput (b)/(a): {ratio:.2f}x (target >= 0.5); p99 added at {rate:,.0f} req/s: "
          f"{added:+.2f} ms (target <= 5)")
    calls = _metered(home)
    print(f"calls metered by (b): {calls:,}")
    result = {"peak": peak, "paced": paced, "paced_rate": rate, "ratio": ratio, "added_p99_ms": added,
              "metered_calls": calls,
              "targets": {"throughput_met": ratio >= 0.5, "latency_met": added <= 5.0,
                          "correct": paced["a"]["errors"] == 0 and paced["b"]["errors"] == 0 and calls > 0}}
    WORK.mkdir(exist_ok=True)
    (WORK / "gateway.json").write_text(json.dumps(result, indent=2))
    return result


def _metered(home: Path) -> int:
    """Every call (b) answered should be in the usage table once the server has flushed on shutdown."""
    from urbanbrain.capability.metering import usage_stats

    return int(usage_stats().total_calls)


if __name__ == "__main__":
    main()

"""bench/ioc: computing every demo indicator vs the same SQL run raw on DuckDB (target <= 1.2x), and the
operations-centre wall in Debian's Chromium at 1920x1080: first meaningful paint (< 1.5 s) and frame times
while 10,000 map points update every second (no frame over 100 ms).

Needs a demo city: `--home` (default bench/.work/ioc-home, built with `urbanbrain demo --no-serve --scale
tiny` when missing). Indicators are (re)defined from the demo catalogue and computed `--repeat` times;
the reference opens one plain DuckDB connection with the governed path's settings (memory limit, spill
folder) and a view per dataset over its data files (no policy, no audit, no metadata writes) and runs each
indicator's SQL once, timing only the queries. Both the wall-clock ratio and the process CPU-time ratio
(DuckDB's threads included) are reported: on a shared machine the wall ratio is noisy, the CPU ratio
less so. The computation runs the owners' groups side by side (a thread per core), the reference one
query after another, as "the sum of their raw queries" says: the wall ratio is the refresh latency a
screen sees, the CPU ratio what the machine pays. `--expired-policies` empties the policy cache before
each computation (a scheduled refresh always comes after the cache's 2 seconds).

The wall: a uvicorn server in this process, the admin signed in, `/ioc` loaded; "first meaningful paint"
is the time from navigation start to the snapshot drawn (tiles filled, districts drawn: a performance
mark the page sets), with Chromium's own first-contentful-paint beside it. Then a thread publishes one
`state.*` bus message per second carrying 10,000 device changes (random walk around the city); the server
coalesces them into one SSE message a second and the page moves the points. Frame times are the
intervals between requestAnimationFrame callbacks over `--seconds` (the browser's frames as it paints),
plus the longest task from the PerformanceObserver `longtask` entries. A screenshot is saved.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

WORK = Path(__file__).resolve().parent / ".work"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]


def ensure_demo(home: Path) -> None:
    if (home / "demo" / "state.json").exists():
        return
    env = {"URBANBRAIN_DEMO_DB_PREFIX": "ub_bench_ioc", **os.environ, "URBANBRAIN_HOME": str(home)}
    subprocess.run([sys.executable, "-m", "urbanbrain.cli.main", "demo", "--no-serve", "--scale", "tiny"], env=env,
                   check=True, stdout=subprocess.DEVNULL)


def raw_connection() -> Any:
    """A plain DuckDB connection with the governed path's settings (memory limit, spill folder, no
    replacement scans, Parquet footers cached; one thread when its files are small, by the same rule,
    `raw_seconds`): the reference differs only by governance."""
    from urbanbrain.core import duck
    from urbanbrain.core.settings import get_settings

    settings = get_settings()
    tmp = settings.home_dir / "tmp" / "duckdb"
    tmp.mkdir(parents=True, exist_ok=True)
    con = duck.connect(memory_limit=settings.query_memory_limit,
                       config={"temp_directory": str(tmp), "python_enable_replacements": False})
    con.execute("SET parquet_metadata_cache = true")  # as `govern.query.open_sealed` sets it
    return con


def small_scan(paths: list[str]) -> bool:
    """`core.duck.small_scan` (whether the governed path runs a connection on one thread); the same rule
    inlined for a source tree without it, so that code before and after is measured against one reference."""
    from urbanbrain.core import duck

    if hasattr(duck, "small_scan"):
        return bool(duck.small_scan(paths))
    return sum(os.path.getsize(p) for p in paths) < 8 << 20


def raw_seconds(sqls: list[str]) -> tuple[float, float]:
    """Each SQL on one plain DuckDB connection over the datasets' files; only the queries are timed.
    (wall seconds, process CPU seconds — DuckDB's threads included)."""
    from urbanbrain.lake.engine import check_references, parse_tree, quote_ident, raw_select, table_files

    con = raw_connection()
    made: set[tuple[str, ...]] = set()
    every: list[str] = []
    for sql in sqls:
        for ident in check_references(parse_tree(sql, con)):
            ident = tuple(p.lower() for p in ident)
            if ident in made:
                continue
            made.add(ident)
            files, columns = table_files(ident)
            every.extend(files)
            con.execute(f"ATTACH IF NOT EXISTS ':memory:' AS {quote_ident(ident[0])}")
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(ident[0])}.{quote_ident(ident[1])}")
            con.execute(f"CREATE OR REPLACE VIEW {'.'.join(quote_ident(p) for p in ident)} AS "
                        f"{raw_select(files, columns)}")
    if small_scan(every):  # the governed path's rule, over the files read here
        con.execute("SET threads = 1")
    total = cpu = 0.0
    for sql in sqls:
        t0, c0 = time.perf_counter(), time.process_time()
        con.execute(sql).to_arrow_table()
        total += time.perf_counter() - t0
        cpu += time.process_time() - c0
    con.close()
    return total, cpu


def bench_compute(repeat: int, expired_policies: bool = False) -> dict[str, Any]:
    """Each round: every SQL indicator computed (`compute_many`), then the same SQL raw; the best of
    `repeat` of each. With `expired_policies` the policy cache is emptied before each computation, as
    when a scheduled refresh comes after its 2-second TTL (every refresh in production)."""
    from urbanbrain.demo.indicator_catalogue import city_indicators, define_city_indicators
    from urbanbrain.govern.policy import invalidate
    from urbanbrain.operate.indicator_compute import compute_many

    define_city_indicators()
    defs = [d for d in city_indicators() if not d.function]  # the SQL ones: a function's queries are its own
    sqls, names = [d.sql for d in defs], [d.name for d in defs]
    compute_many(names)  # warm: imports, caches of masked views, kept connections
    walls, cpus, raws, raw_cpus = [], [], [], []
    for _ in range(repeat):
        if expired_policies:
            invalidate()
        t0, c0 = time.perf_counter(), time.process_time()
        results = compute_many(names)
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
        raw, raw_cpu = raw_seconds(sqls)
        raws.append(raw)
        raw_cpus.append(raw_cpu)
    errors = [r["name"] for r in results if r.get("error")]
    wall, raw, cpu, raw_cpu = min(walls), min(raws), min(cpus), min(raw_cpus)
    return {"indicators": len(sqls), "errors": errors, "expired_policies": expired_policies,
            "compute_all_s": round(wall, 3), "raw_duckdb_s": round(raw, 3), "ratio": round(wall / raw, 2),
            "compute_cpu_s": round(cpu, 3), "raw_cpu_s": round(raw_cpu, 3), "cpu_ratio": round(cpu / raw_cpu, 2),
            "per_indicator_ms": round(1000 * wall / len(sqls), 1)}


def serve() -> tuple[Any, str]:
    import uvicorn

    from urbanbrain.web.app import create_app

    srv = uvicorn.Server(uvicorn.Config(create_app, factory=True, host="127.0.0.1", port=0, log_level="warning"))
    threading.Thread(target=srv.run, daemon=True).start()
    deadline = time.monotonic() + 120
    while not srv.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    return srv, f"http://127.0.0.1:{srv.servers[0].sockets[0].getsockname()[1]}"


def pump(stop: threading.Event, points: int) -> int:
    """One bus message a second with `points` device changes (what 10,000 live sensors look like)."""
    from urbanbrain.core.bus import get_bus

    rng = random.Random(7)
    where = [(112.6 + rng.random() * 1.0, 27.9 + rng.random() * 0.6) for _ in range(points)]
    sent = 0
    while not stop.wait(1.0):
        changes = []
        for n, (lon, lat) in enumerate(where):
            lon, lat = lon + rng.uniform(-0.002, 0.002), lat + rng.uniform(-0.002, 0.002)
            where[n] = (lon, lat)
            changes.append({"device_id": f"b{n}", "lon": lon, "lat": lat,
                            "state": "alarm" if rng.random() < 0.01 else "ok"})
        get_bus().publish("state.hotline.bench", {"feed": "bench", "department": "hotline", "changes": changes})
        sent += 1
    return sent


PAINTED_JS = """() => { performance.mark('ioc-painted');
  const fcp = performance.getEntriesByName('first-contentful-paint')[0];
  return {meaningful: performance.getEntriesByName('ioc-painted')[0].startTime, fcp: fcp ? fcp.startTime : null}; }"""
# the facilities layer arrives after first paint (GET /api/ioc/facilities); an older page has no such step
FACILITIES_WAIT = "!('facilities' in (window.UBIoc || {})) || window.UBIoc.facilities !== undefined"
FACILITIES_JS = """() => { const m = performance.getEntriesByName('ioc-facilities')[0];
  const f = window.UBIoc.facilities; return f ? {ms: m ? m.startTime : null, located: f.located, total: f.total}
  : null; }"""
SERVER_JS = """() => { const nav = performance.getEntriesByType('navigation')[0];
  const out = {html: nav.responseEnd - nav.requestStart};
  for (const e of performance.getEntriesByType('resource')) {
    for (const [key, path] of [['snapshot', '/api/ioc/snapshot'], ['districts', '/api/geo/districts'],
                               ['facilities', '/api/ioc/facilities']]) {
      if (e.name.includes(path)) out[key] = e.responseEnd - e.startTime; } }
  return out; }"""  # request to last byte of the page and of the wall's API calls, ms (server time plus transfer)
FRAMES_JS = """() => new Promise(resolve => {
  const deltas = []; let last = performance.now(); const end = last + %d;
  function tick(now) { deltas.push(now - last); last = now;
    if (now < end) requestAnimationFrame(tick); else resolve(deltas); }
  requestAnimationFrame(tick);
})"""


def bench_screen(base: str, seconds: int, points: int, width: int, height: int, shot: Path, runs: int = 1
                 ) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        ctx = browser.new_context(base_url=base, viewport={"width": width, "height": height}, locale="zh-CN")
        page = ctx.new_page()
        page.goto("/login?next=/indicators")
        page.fill("#login-name", "admin")
        page.fill("#login-password", "demo-admin")
        page.locator("button[type=submit]").first.click()
        page.wait_for_url("**/indicators")
        page.add_init_script("""new PerformanceObserver(l => { window.__long = (window.__long || [])
          .concat(l.getEntries().map(e => e.duration)); }).observe({type: 'longtask', buffered: true});""")
        cold: dict[str, Any] = {}
        warm: list[dict[str, Any]] = []
        for _ in range(1 + runs):  # the first load after a server start pays its lazy imports (~0.7 s): apart
            page.goto("/ioc")
            page.wait_for_function("window.UBIoc && window.UBIoc.loaded >= 1 && window.UBIoc.map.districtCount() > 0",
                                   timeout=60_000)
            painted = page.evaluate(PAINTED_JS)
            page.wait_for_function(FACILITIES_WAIT, timeout=60_000)
            painted["facilities"] = page.evaluate(FACILITIES_JS)
            if cold:
                warm.append(painted)
            cold = cold or painted
        painted = sorted(warm, key=lambda p: p["meaningful"])[len(warm) // 2]  # the median warm load
        page.wait_for_function("window.UBIoc.open === true", timeout=30_000)
        stop = threading.Event()
        sent: list[int] = []
        thread = threading.Thread(target=lambda: sent.append(pump(stop, points)), daemon=True)
        thread.start()
        page.wait_for_function(f"window.UBIoc.map.pointCount() >= {points}", timeout=60_000)
        page.evaluate("() => { window.__long = []; }")  # long tasks while the points move, not the page's load
        deltas = page.evaluate(FRAMES_JS % (seconds * 1000))
        stop.set()
        thread.join(timeout=10)
        page.screenshot(path=str(shot))
        state = page.evaluate("() => ({points: window.UBIoc.map.pointCount(), stats: window.UBIoc.stats, "
                              "long: window.__long || []})")
        browser.close()
    deltas = sorted(deltas[1:])
    fac = painted.get("facilities") or {}
    return {"viewport": f"{width}x{height}", "first_meaningful_paint_ms": round(painted["meaningful"]),
            "first_meaningful_paint_runs_ms": [round(p["meaningful"]) for p in warm],
            "first_meaningful_paint_cold_server_ms": round(cold["meaningful"]),
            "facilities_drawn_ms": round(fac["ms"]) if fac.get("ms") is not None else None,
            "facilities_located": f"{fac.get('located')} of {fac.get('total')}" if fac else None,
            "first_contentful_paint_ms": round(painted["fcp"]) if painted["fcp"] else None,
            "frames": len(deltas), "frame_p50_ms": round(deltas[len(deltas) // 2], 1),
            "frame_p99_ms": round(deltas[int(len(deltas) * 0.99)], 1), "frame_max_ms": round(deltas[-1], 1),
            "longest_task_ms": round(max(state["long"] or [0]), 1), "points_on_map": state["points"],
            "pushes_received": state["stats"]["pushed"], "pushes_sent": sent[0] if sent else 0,
            "screenshot": str(shot)}


def start_server(home: Path, warmup: bool) -> tuple[subprocess.Popen[bytes], str, float]:
    """`urbanbrain serve` in a process of its own (the real start path: CLI, settings, lifespan, warm-up),
    on a free port; returns once `/api/health` answers, with the seconds that took."""
    import socket
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "URBANBRAIN_HOME": str(home), "URBANBRAIN_WARMUP": "true" if warmup else "false"}
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "urbanbrain.cli.main", "serve", "--port", str(port), "--no-stream"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(base + "/api/health", timeout=5) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("urbanbrain serve did not start")
        time.sleep(0.05)
    return proc, base, time.perf_counter() - t0


def bench_cold(home: Path, starts: int, width: int, height: int, delay: float, warmup: bool) -> dict[str, Any]:
    """The first load of `/ioc` after each of `starts` server starts: a new `urbanbrain serve` process, and
    `delay` seconds after it answers (0: at once, the worst case for a background warm-up) a new browser
    context signs in (a POST to `/login`, no page) and opens the wall; its first meaningful paint is measured
    from the wall's navigation start, as for warm loads. The browser is started once, before the servers."""
    from playwright.sync_api import sync_playwright

    loads: list[dict[str, Any]] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        for _ in range(starts):
            proc, base, ready = start_server(home, warmup)
            try:
                time.sleep(delay)
                ctx = browser.new_context(base_url=base, viewport={"width": width, "height": height},
                                          locale="zh-CN")
                page = ctx.new_page()
                t0 = time.perf_counter()
                signed = ctx.request.post("/login", form={"name": "admin", "password": "demo-admin", "next": "/"},
                                          max_redirects=0)  # the session cookie, without a page load
                assert signed.status in (302, 303), signed.status
                page.goto("/ioc")
                page.wait_for_function("window.UBIoc && window.UBIoc.loaded >= 1 && "
                                       "window.UBIoc.map.districtCount() > 0", timeout=60_000)
                painted = page.evaluate(PAINTED_JS)
                page.wait_for_function(FACILITIES_WAIT, timeout=60_000)
                fac = page.evaluate(FACILITIES_JS) or {}
                t1 = time.perf_counter()
                server = page.evaluate(SERVER_JS)
                again, again_server = [], []  # the same server's next loads: the warm reference, in the same run
                for _ in range(3):
                    page.goto("/ioc")
                    page.wait_for_function("window.UBIoc && window.UBIoc.loaded >= 1 && "
                                           "window.UBIoc.map.districtCount() > 0", timeout=60_000)
                    again.append(page.evaluate(PAINTED_JS)["meaningful"])
                    page.wait_for_function(FACILITIES_WAIT, timeout=60_000)
                    again_server.append(page.evaluate(SERVER_JS))
                fresh = browser.new_context(base_url=base, viewport={"width": width, "height": height},
                                            locale="zh-CN")  # a new visitor (empty browser cache), warm server
                fresh.request.post("/login", form={"name": "admin", "password": "demo-admin", "next": "/"},
                                   max_redirects=0)
                first_visit = fresh.new_page()
                first_visit.goto("/ioc")
                first_visit.wait_for_function("window.UBIoc && window.UBIoc.loaded >= 1 && "
                                              "window.UBIoc.map.districtCount() > 0", timeout=60_000)
                visit_ms = first_visit.evaluate(PAINTED_JS)["meaningful"]
                fresh.close()
                loads.append({"ready_s": round(ready, 2), "meaningful_ms": round(painted["meaningful"]),
                              "warm_median_ms": round(sorted(again)[1]),
                              "new_visitor_warm_server_ms": round(visit_ms),
                              "server_cold_ms": {k: round(v) for k, v in server.items()},
                              "server_warm_median_ms": {k: round(sorted(x.get(k, 0) for x in again_server)[1])
                                                        for k in server},
                              "facilities_ms": round(fac["ms"]) if fac.get("ms") is not None else None,
                              "signin_to_paint_s": round(t1 - t0, 2),
                              "load": [round(x, 2) for x in os.getloadavg()]})
                ctx.close()
            finally:
                proc.terminate()
                proc.wait(timeout=30)
        browser.close()
    paints = sorted(x["meaningful_ms"] for x in loads)
    return {"viewport": f"{width}x{height}", "warmup": warmup, "delay_s": delay, "starts": loads,
            "cold_first_paint_median_ms": paints[len(paints) // 2], "cold_first_paint_max_ms": paints[-1]}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--home", type=Path, default=WORK / "ioc-home")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--points", type=int, default=10_000)
    parser.add_argument("--width", type=int, default=1920)
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument("--runs", type=int, default=1, help="warm loads of the wall measured (the median is reported)")
    parser.add_argument("--skip-compute", action="store_true")
    parser.add_argument("--cold", type=int, default=0, metavar="N",
                        help="only the first load after each of N starts of `urbanbrain serve` (no compute, no frames)")
    parser.add_argument("--cold-delay", type=float, default=0.0,
                        help="--cold: seconds between the server answering and the browser signing in")
    parser.add_argument("--no-warmup", action="store_true", help="--cold: serve with URBANBRAIN_WARMUP=false")
    parser.add_argument("--skip-screen", action="store_true")
    parser.add_argument("--expired-policies", action="store_true",
                        help="empty the policy cache before each computation (a refresh after the 2-s TTL)")
    args = parser.parse_args(argv)
    args.home.mkdir(parents=True, exist_ok=True)
    ensure_demo(args.home)
    os.environ["URBANBRAIN_HOME"] = str(args.home)
    from urbanbrain.core.settings import get_settings

    get_settings.cache_clear()
    out: dict[str, Any] = {"load": os.getloadavg()}
    if args.cold:
        out["cold"] = bench_cold(args.home, args.cold, args.width, args.height, args.cold_delay, not args.no_warmup)
        out["targets"] = {"cold_first_paint_met": out["cold"]["cold_first_paint_max_ms"] < 1500}
        WORK.mkdir(exist_ok=True)
        name = f"ioc-cold-{args.width}x{args.height}-{'warm' if not args.no_warmup else 'nowarm'}-{args.cold_delay:g}s"
        (WORK / f"{name}.json").write_text(json.dumps(out, indent=1, ensure_ascii=False))
        print(json.dumps(out, indent=1, ensure_ascii=False))
        return out
    if not args.skip_compute:
        out["compute"] = bench_compute(args.repeat, args.expired_policies)
    if not args.skip_screen:
        srv, base = serve()
        try:
            out["screen"] = bench_screen(base, args.seconds, args.points, args.width, args.height,
                                         WORK / f"ioc-{args.width}x{args.height}.png", args.runs)
        finally:
            srv.should_exit = True
    compute, screen = out.get("compute", {}), out.get("screen", {})
    out["targets"] = {}
    if compute:
        out["targets"]["compute_ratio_met"] = compute["ratio"] <= 1.2 and not compute["errors"]
    if screen:
        out["targets"]["first_paint_met"] = screen["first_meaningful_paint_ms"] < 1500
        out["targets"]["frames_met"] = screen["frame_max_ms"] <= 100
    WORK.mkdir(exist_ok=True)
    (WORK / f"ioc-{args.width}x{args.height}.json").write_text(json.dumps(out, indent=1, ensure_ascii=False))
    print(json.dumps(out, indent=1, ensure_ascii=False))
    return out


if __name__ == "__main__":
    main()

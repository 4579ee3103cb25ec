"""`urbanbrain demo`: build the simulated city, connect and sync it, then serve the console.

The first command a new user types. It runs the whole brain on one machine: departments and their
systems registered through the same services a data steward uses, every system synced with progress
bars, then the console at http://127.0.0.1:8080 while live sensor feeds keep flowing (a worker
syncs them on their schedules).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Annotated

import typer

from urbanbrain.cli.output import console, say
from urbanbrain.cli.serve import check_port
from urbanbrain.core.errors import UrbanBrainError


def demo_command(
    scale: Annotated[str, typer.Option("--scale", help="tiny | small (default) | medium | large (tens of millions)")]
    = "small",
    systems: Annotated[int | None, typer.Option("--systems", min=1, help="Grow the city to N systems (e.g. 400).")]
    = None,
    fresh: Annotated[bool, typer.Option("--fresh", help="Regenerate the city instead of reusing it.")] = False,
    no_serve: Annotated[bool, typer.Option("--no-serve", help="Stop after syncing (scripts and CI).")] = False,
    host: Annotated[str, typer.Option("--host", help="Interface for the console.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Console port.")] = 8080,
    link: Annotated[bool | None, typer.Option(
        "--link/--no-link", help="Build the base registries (One ID) after syncing; default: yes, except at large.")]
    = None,
    simulate: Annotated[bool, typer.Option(
        "--simulate/--no-simulate", help="While serving, run the city's case loop live (reports, dispatch, "
        "handlers, overdue cases) on a compressed clock.")] = True,
    speed: Annotated[float, typer.Option("--speed", min=1, max=60, help="Live case loop: simulated seconds per "
                                         "second (60: a city day in 24 minutes; SLA limits floor at 1 minute).")]
    = 60.0,
) -> None:
    """Build, connect and sync a simulated city modelled on Changsha, then serve its console."""
    from rich.table import Table

    from urbanbrain.core.settings import get_settings
    from urbanbrain.demo.progress import PlainDemoProgress, RichDemoProgress
    from urbanbrain.demo.run import run_demo

    if not no_serve:
        check_port(host, port)  # before minutes of building, not after
    log = capture_third_party_logs(get_settings().home_dir / "logs" / "demo.log")
    link = scale != "large" if link is None else link
    # serving: the console comes up first and the registries are linked behind it
    link_now = link and no_serve
    progress = RichDemoProgress(console=console) if console.is_terminal else PlainDemoProgress()
    with progress:
        summary = run_demo(scale=scale, systems=systems, fresh=fresh, progress=progress, link=link_now)
    table = Table(title=f"demo city ({summary.scale})", show_header=False)
    others = _platform_parts()
    table.add_row("departments", f"{summary.departments} city departments" + (
        f" (the console counts {summary.departments + len(others[0])}: also {', '.join(others[0])})"
        if others[0] else ""))
    table.add_row("systems", f"{summary.systems} ({', '.join(f'{k} {v}' for k, v in sorted(summary.kinds.items()))})"
                  + (f"; the console also counts {others[1]} base-registry systems" if others[1] else ""))
    table.add_row("rows synced", f"{summary.rows_synced:,}")
    table.add_row("capabilities",
                  f"{summary.capabilities} published, {summary.capability_grants} cross-department grants")
    table.add_row("sharing requests", ", ".join(f"{k} {v}" for k, v in sorted(summary.sharing_requests.items()))
                  or "-")
    if summary.indicators:
        table.add_row("vital signs", f"{sum(summary.indicators.values())} indicators: "
                      + ", ".join(f"{k} {v}" for k, v in sorted(summary.indicators.items())))
    table.add_row("ground truth", ", ".join(f"{k} {v:,}" for k, v in summary.truth_links.items()) or "-")
    table.add_row("one ID", ", ".join(f"{k} {v:,} entities" for k, v in summary.entities.items())
                  or ("linking in the background while the console serves" if link and not link_now else
                      "not linked (`urbanbrain link run person|organisation|address`)"))
    table.add_row("time", ", ".join(f"{k} {v:.0f}s" for k, v in summary.seconds.items()))
    table.add_row("state", str(summary.home))
    table.add_row("log", f"{log} (third-party warnings, e.g. Splink's training notes)")
    console.print(table)
    if summary.users:
        people = Table(title="console users (demo passwords — for the demo only)")
        for column in ("user", "password", "roles"):
            people.add_column(column)
        for user in summary.users:
            people.add_row(user.name, user.password, user.role_text)
        console.print(people)
    for name, error in sorted(summary.failures.items()):
        console.print(f"[red]failed[/red] {name}: {error}")
    if no_serve:
        if summary.failures:
            raise typer.Exit(1)
        say("done; query it with `urbanbrain sql \"select count(*) from hotline.hotline_tickets.tickets\"`")
        return
    _serve(host, port, link=link and not link_now, simulate_speed=speed if simulate else None)


def _platform_parts() -> tuple[list[str], int]:
    """What the console's overview counts beyond the city's own departments and systems: the data
    bureau that owns the built-ins, the base registries' department and its systems (so the two agree)."""
    from urbanbrain.connect.systems import list_systems
    from urbanbrain.demo.departments import DEPARTMENTS
    from urbanbrain.meta.departments import list_departments

    city = {d.code for d in DEPARTMENTS}
    others = sorted(d.code for d in list_departments() if d.code not in city)
    registry_systems = sum(1 for s in list_systems() if s.kind == "registry")
    return others, registry_systems


def capture_third_party_logs(path: Path) -> Path:
    """Send library logging and Python warnings (Splink's "m values not fully trained", pyiceberg's notes)
    to `path` instead of the screen, where they buried the demo's own output."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)  # libraries that check hasHandlers() (Splink) then add no stderr handler
    logging.captureWarnings(True)
    splink = logging.getLogger("splink")
    for existing in list(splink.handlers):  # a handler Splink added earlier in this process
        if isinstance(existing, logging.StreamHandler) and not isinstance(existing, logging.FileHandler):
            splink.removeHandler(existing)
    splink.propagate = True
    return path


def _link_in_background() -> threading.Thread:
    """Build the base registries while the console already serves; the console's /link fills in."""
    from urbanbrain.demo.run import link_registries

    def work() -> None:
        entities, failures = link_registries()
        done = ", ".join(f"{k} {v:,}" for k, v in entities.items()) or "none"
        say(f"one ID linked: {done} entities" + (f"; failed: {failures}" if failures else ""))

    thread = threading.Thread(target=work, name="ub-demo-link", daemon=True)
    thread.start()
    return thread


def _serve(host: str, port: int, link: bool = False, simulate_speed: float | None = None) -> None:
    import uvicorn

    from urbanbrain.cli.serve import serving_defaults
    from urbanbrain.demo.livecity import LiveCity
    from urbanbrain.demo.run import start_live_feeds
    from urbanbrain.sync.worker import run_worker

    serving_defaults()
    feeds = start_live_feeds()
    stop = threading.Event()

    def work() -> None:
        try:
            run_worker(poll_seconds=10, stop=stop)
        except UrbanBrainError as exc:  # the console keeps serving; the log says why feeds stopped
            say(f"worker stopped: {exc}")

    worker = threading.Thread(target=work, name="ub-demo-worker", daemon=True)
    worker.start()
    if link:
        _link_in_background()
    # the sensors publish live (MQTT when Mosquitto answers, else in-process HTTP push feeds); the feeds
    # are registered in the background, so the console is up at once
    live = LiveCity(feeds.seed).start()
    cases = None
    if simulate_speed:  # begins a few seconds after uvicorn starts: the console is up first
        from urbanbrain.demo.live_cases import start_live_cases

        cases = start_live_cases(speed=simulate_speed, delay=5.0)
        say(f"the city's cases run live at {simulate_speed:g}x (/cases; --no-simulate to stop them)")
    say(f"urbanbrain console: http://{host}:{port}  (API docs at /docs; Ctrl-C stops)")
    say(f"live sensors publishing over {'MQTT (127.0.0.1:1883)' if live.kind == 'mqtt' else 'in-process HTTP push'}:"
        f" http://{host}:{port}/live")
    try:
        uvicorn.run("urbanbrain.web.app:create_app", factory=True, host=host, port=port, log_level="warning")
    finally:
        if cases is not None:
            cases.stop()
        stop.set()
        live.stop()
        feeds.stop()
        worker.join(timeout=30)

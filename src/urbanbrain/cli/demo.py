"""`urbanbrain demo`: build the simulated city, connect and sync it, then serve the console.

The first command a new user types. It runs the whole brain on one machine: departments and their
systems registered through the same services a data steward uses, every system synced with progress
bars, then the console at http://127.0.0.1:8080 while live sensor feeds keep flowing (a worker
syncs them on their schedules).
"""

from __future__ import annotations

import threading
from typing import Annotated

import typer
from rich.table import Table

from urbanbrain.cli.output import console, say
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
) -> None:
    """Build, connect and sync a simulated city modelled on Changsha, then serve its console."""
    from urbanbrain.demo.progress import RichDemoProgress
    from urbanbrain.demo.run import run_demo

    with RichDemoProgress(console=console) as progress:
        summary = run_demo(scale=scale, systems=systems, fresh=fresh, progress=progress,
                           link=scale != "large" if link is None else link)
    table = Table(title=f"demo city ({summary.scale})", show_header=False)
    table.add_row("departments", str(summary.departments))
    table.add_row("systems", f"{summary.systems} ({', '.join(f'{k} {v}' for k, v in sorted(summary.kinds.items()))})")
    table.add_row("rows synced", f"{summary.rows_synced:,}")
    table.add_row("capabilities",
                  f"{summary.capabilities} published, {summary.capability_grants} cross-department grants")
    table.add_row("ground truth", ", ".join(f"{k} {v:,}" for k, v in summary.truth_links.items()) or "-")
    table.add_row("one ID", ", ".join(f"{k} {v:,} entities" for k, v in summary.entities.items())
                  or "not linked (`urbanbrain link run person|organisation|address`)")
    table.add_row("time", ", ".join(f"{k} {v:.0f}s" for k, v in summary.seconds.items()))
    table.add_row("state", str(summary.home))
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
    _serve(host, port)


def _serve(host: str, port: int) -> None:
    import uvicorn

    from urbanbrain.cli.serve import serving_defaults
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
    say(f"urbanbrain console: http://{host}:{port}  (API docs at /docs; Ctrl-C stops)")
    try:
        uvicorn.run("urbanbrain.web.app:create_app", factory=True, host=host, port=port, log_level="warning")
    finally:
        stop.set()
        feeds.stop()
        worker.join(timeout=30)

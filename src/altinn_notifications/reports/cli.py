"""`altinn-notifications reports dead|replay`: the operator's view of dead delivery reports.

`dead` lists them (newest first; never the vendor payload, which holds addresses). `replay` applies them
again through the result path (docs/compatibility.md C14): applied reports, and reports whose notification already has a
final result, are marked `resolved`; the others stay listed with one more attempt counted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from altinn_notifications.config import Settings, SettingsError, load_settings
from altinn_notifications.db.pool import Transaction
from altinn_notifications.reports.models import DeadReport, ReplaySummary

reports_app = typer.Typer(help="Dead delivery reports: list and replay.", no_args_is_help=True)

_out = Console()
_err = Console(stderr=True)

DbOpt = Annotated[str | None, typer.Option(help="PostgreSQL URL [NOTIFICATIONS_DATABASE_URL].")]
DataOpt = Annotated[Path | None, typer.Option(help="Data folder [NOTIFICATIONS_DATA_DIR].")]

_REPLAY_CHUNK = 500


def _settings(**overrides: Any) -> Settings:
    try:
        return load_settings(**{k: v for k, v in overrides.items() if v is not None})
    except SettingsError as exc:
        _err.print(str(exc), markup=False)
        raise typer.Exit(2) from None


async def _run(settings: Settings, work: Callable[[Any], Any]) -> Any:
    from altinn_notifications.bootstrap import resolve_database_url
    from altinn_notifications.db import migrate
    from altinn_notifications.db.pool import create_pool, transactions

    url = resolve_database_url(settings)
    migrate.upgrade(url)
    pool: Any = await create_pool(url, min_size=1, max_size=2)
    try:
        return await work(transactions(pool))
    finally:
        await pool.close()


def _table(reports: list[DeadReport]) -> Table:
    table = Table(
        "id", "channel", "reason", "attempts", "first seen", "last attempt", "resolved", "reference", "result"
    )
    for r in reports:
        table.add_row(
            str(r.id),
            r.channel,
            r.reason or "",
            str(r.attempts),
            r.first_seen.isoformat(timespec="seconds"),
            r.last_attempt.isoformat(timespec="seconds"),
            "yes" if r.resolved else "no",
            r.reference or "",
            r.result or "",
        )
    return table


@reports_app.command("dead")
def dead(
    limit: Annotated[int, typer.Option(min=1, help="How many of the newest dead reports.")] = 50,
    include_resolved: Annotated[bool, typer.Option(help="Also list resolved (replayed) reports.")] = False,
    database_url: DbOpt = None,
    data_dir: DataOpt = None,
) -> None:
    """List dead delivery reports (unresolved by default), newest first."""
    from altinn_notifications.reports.flows import list_dead

    settings = _settings(database_url=database_url, data_dir=data_dir)

    async def work(tx: Transaction) -> list[DeadReport]:
        return await list_dead(tx, limit, include_resolved=include_resolved)

    found: list[DeadReport] = asyncio.run(_run(settings, work))
    if not found:
        typer.echo("no dead delivery reports")
        return
    _out.print(_table(found))


@reports_app.command("replay")
def replay(
    report_id: Annotated[
        list[int] | None, typer.Option("--id", help="Dead report id to replay (repeatable).")
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="Replay every unresolved dead report.")] = False,
    database_url: DbOpt = None,
    data_dir: DataOpt = None,
) -> None:
    """Apply dead delivery reports again; applied ones are marked resolved."""
    from altinn_notifications.reports.flows import list_dead, replay_dead

    if bool(report_id) == all_:
        _err.print("give --id N (repeatable) or --all", markup=False)
        raise typer.Exit(2)
    settings = _settings(database_url=database_url, data_dir=data_dir)

    async def work(tx: Transaction) -> ReplaySummary:
        ids = list(report_id or [])
        if all_:
            ids = sorted(r.id for r in await list_dead(tx, 10_000_000))
        total = ReplaySummary()
        for start in range(0, len(ids), _REPLAY_CHUNK):
            chunk = ids[start : start + _REPLAY_CHUNK]
            total.outcomes.extend((await replay_dead(tx, chunk, len(chunk))).outcomes)
        return total

    summary: ReplaySummary = asyncio.run(_run(settings, work))
    for outcome in summary.outcomes:
        typer.echo(f"{outcome.id}\t{outcome.channel}\t{outcome.outcome}")
    if report_id:
        missing = sorted(set(report_id) - {o.id for o in summary.outcomes})
        for m in missing:
            typer.echo(f"{m}\t-\tnot found (or already resolved)")
    typer.echo(f"replayed {len(summary.outcomes)}, resolved {summary.resolved}")

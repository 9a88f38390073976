"""`altinn-notifications registry import|export`: the local contact registry from and to a file.

Only counts and row paths are printed (never a NIN, address or name): the export itself, written to a
file or stdout, is the only place registry content appears.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from altinn_notifications.config import Settings, SettingsError, load_settings
from altinn_notifications.recipients.registry import (
    ExportSummary,
    ImportProgress,
    ImportSummary,
    RegistryFileError,
    RegistryFormat,
    export_registry,
    format_for_path,
    import_registry,
    import_registry_file,
)

registry_app = typer.Typer(
    help="Import and export the local contact registry (persons, organisations, external identities).",
    no_args_is_help=True,
)

_err = Console(stderr=True)

FormatOpt = Annotated[
    RegistryFormat | None,
    typer.Option("--format", "-f", help="File format; default from the file name (.csv), else json."),
]
DbOpt = Annotated[str | None, typer.Option(help="PostgreSQL URL [NOTIFICATIONS_DATABASE_URL].")]
DataOpt = Annotated[Path | None, typer.Option(help="Data folder [NOTIFICATIONS_DATA_DIR].")]


def _settings(**overrides: Any) -> Settings:
    try:
        return load_settings(**{k: v for k, v in overrides.items() if v is not None})
    except SettingsError as exc:
        _err.print(str(exc), markup=False)
        raise typer.Exit(2) from None


def _database_url(settings: Settings) -> str:
    """The URL the service would use (embedded PostgreSQL when none is set), migrated."""
    from altinn_notifications.bootstrap import resolve_database_url
    from altinn_notifications.db import migrate

    url = resolve_database_url(settings)
    migrate.upgrade(url)
    return url


async def _with_pool(url: str, work: Any) -> Any:
    from altinn_notifications.db.pool import create_pool

    pool: Any = await create_pool(url, min_size=1, max_size=2)
    try:
        return await work(pool)
    finally:
        await pool.close()


def _print_import_summary(summary: ImportSummary) -> None:
    typer.echo(
        f"imported {summary.persons} persons, {summary.organizations} organizations, {summary.users} users, "
        f"{summary.external_identities} external identities; skipped {summary.skipped} invalid rows"
    )
    for error in summary.errors:
        _err.print(error, markup=False, highlight=False)
    if summary.error_count > len(summary.errors):
        _err.print(f"... and {summary.error_count - len(summary.errors)} more errors", markup=False)


@registry_app.command("import")
def import_command(
    file: Annotated[Path, typer.Argument(help="Registry file (JSON, or CSV of persons); '-' reads stdin.")],
    file_format: FormatOpt = None,
    replace: Annotated[
        bool, typer.Option("--replace", help="Empty the registry first (in the same transaction).")
    ] = False,
    batch_size: Annotated[int, typer.Option(min=1, help="Rows written per statement.")] = 1000,
    database_url: DbOpt = None,
    data_dir: DataOpt = None,
) -> None:
    """Validate and upsert a registry file. Invalid rows are reported and skipped (exit code 1)."""
    stdin = str(file) == "-"
    if not stdin and not file.is_file():
        _err.print(f"no such file: {file}", markup=False)
        raise typer.Exit(2)
    chosen = file_format or (RegistryFormat.json if stdin else format_for_path(file))
    url = _database_url(_settings(database_url=database_url, data_dir=data_dir))

    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeElapsedColumn(),
        console=_err,
        transient=True,
    ) as bar:
        task: TaskID = bar.add_task("importing", total=None)

        def on_progress(step: ImportProgress) -> None:
            bar.update(
                task,
                completed=step.bytes_read,
                total=step.total_bytes,
                description=f"importing ({step.rows} rows read)",
            )

        async def work(pool: Any) -> ImportSummary:
            if stdin:
                return await import_registry(
                    pool,
                    sys.stdin.buffer,
                    file_format=chosen,
                    replace=replace,
                    batch_size=batch_size,
                    progress=on_progress,
                )
            return await import_registry_file(
                pool, file, file_format=chosen, replace=replace, batch_size=batch_size, progress=on_progress
            )

        try:
            summary: ImportSummary = asyncio.run(_with_pool(url, work))
        except RegistryFileError as exc:
            _err.print(f"nothing imported: {exc}", markup=False)
            raise typer.Exit(1) from None

    _print_import_summary(summary)
    if summary.error_count:
        raise typer.Exit(1)


def _open_for_writing(path: Path) -> TextIO:
    return path.open("w", encoding="utf-8", newline="")


@registry_app.command("export")
def export_command(
    file: Annotated[Path | None, typer.Argument(help="Target file; omitted or '-' writes to stdout.")] = None,
    file_format: FormatOpt = None,
    database_url: DbOpt = None,
    data_dir: DataOpt = None,
) -> None:
    """Write the registry as JSON (everything) or CSV (persons only)."""
    to_stdout = file is None or str(file) == "-"
    chosen = file_format or (RegistryFormat.json if to_stdout else format_for_path(file))
    url = _database_url(_settings(database_url=database_url, data_dir=data_dir))

    async def work(pool: Any) -> ExportSummary:
        if to_stdout:
            return await export_registry(pool, sys.stdout, file_format=chosen)
        assert file is not None
        target = file.with_name(file.name + ".partial")
        out = _open_for_writing(target)
        try:
            summary = await export_registry(pool, out, file_format=chosen)
        except BaseException:
            out.close()
            target.unlink(missing_ok=True)
            raise
        out.close()
        target.replace(file)  # the file appears complete or not at all
        return summary

    summary: ExportSummary = asyncio.run(_with_pool(url, work))
    sys.stdout.flush()
    _err.print(
        f"exported {summary.persons} persons, {summary.organizations} organizations, {summary.users} users, "
        f"{summary.external_identities} external identities",
        markup=False,
    )

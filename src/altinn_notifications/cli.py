"""The `altinn-notifications` command line: serve | api | migrate | token | send | registry | reports."""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import typer

from altinn_notifications.config import (
    SCOPE_CREATE,
    SCOPE_SUPPORT,
    Settings,
    SettingsError,
    load_settings,
    parse_connection_string,
)

app = typer.Typer(help="Self-hostable, API-compatible Altinn Notifications.", no_args_is_help=True)


def _settings(**overrides: Any) -> Settings:
    try:
        return load_settings(**{k: v for k, v in overrides.items() if v is not None})
    except SettingsError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None


HostOpt = Annotated[str | None, typer.Option(help="Bind address [NOTIFICATIONS_HOST].")]
PortOpt = Annotated[int | None, typer.Option(help="Port [NOTIFICATIONS_PORT].")]
DbOpt = Annotated[str | None, typer.Option(help="PostgreSQL URL [NOTIFICATIONS_DATABASE_URL].")]
DataOpt = Annotated[Path | None, typer.Option(help="Data folder [NOTIFICATIONS_DATA_DIR].")]
BaseOpt = Annotated[str | None, typer.Option(help="Base URI of links [NOTIFICATIONS_BASE_URI].")]


def _public_url(url: str) -> str:
    """`url` without what may be secret: its password (the user name stays) and query parameters whose
    names say password, key, secret, signature or token."""
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    if parts.username:
        netloc = f"{parts.username}@{netloc}"
    secret = ("pass", "key", "secret", "sig", "token")
    query = [(k, v) for k, v in parse_qsl(parts.query) if not any(word in k.lower() for word in secret)]
    return urlunsplit((parts.scheme, netloc, parts.path, urlencode(query, safe="/"), ""))


def listen_url(settings: Settings) -> str:
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    return f"http://{host}:{settings.port}"


def startup_summary(settings: Settings) -> dict[str, str]:
    """What the start-up line tells besides where the service listens: its database, providers, registers.

    Never a secret: URLs lose their passwords and secret parameters, provider credentials are left out.
    """
    fields: dict[str, str] = {}
    fields["database"] = (
        _public_url(settings.database_url)
        if settings.database_url
        else f"embedded at {(settings.data_dir / 'pg').resolve()}"
    )
    if settings.email_provider == "smtp":
        fields["email"] = f"smtp {settings.smtp_host}:{settings.smtp_port}"
    elif settings.email_provider == "acs" and settings.acs_connection_string is not None:
        endpoint = parse_connection_string(settings.acs_connection_string.get_secret_value()).endpoint
        fields["email"] = f"acs {_public_url(endpoint)}"
    else:
        fields["email"] = settings.email_provider
    fields["sms"] = (
        f"linkmobility {_public_url(str(settings.linkmobility_url))}"
        if settings.sms_provider == "linkmobility" and settings.linkmobility_url
        else settings.sms_provider
    )
    registers = {
        "profile": settings.profile_url,
        "register": settings.register_url,
        "authorization": settings.authorization_url,
    }
    fields["registers"] = (
        ", ".join(f"{name} {_public_url(str(url)) if url else 'local'}" for name, url in registers.items())
        if any(registers.values())
        else "local"
    )
    if settings.chosen_persons_source == "krr" or settings.chosen_names_source == "brreg":
        fields["registers"] = _national_registers(settings)
    return fields


def _national_registers(settings: Settings) -> str:
    """The register of each port, when one of them is a national register asked directly."""

    def where(source: str, url: object) -> str:
        return f"{source} {_public_url(str(url))}" if url else source

    persons = settings.chosen_persons_source
    persons_url = {"krr": settings.krr_url, "altinn": settings.profile_url}.get(persons)
    organizations = settings.chosen_organizations_source
    names = settings.chosen_names_source
    names_url = {"brreg": settings.brreg_url, "altinn": settings.register_url}.get(names)
    return (
        f"persons {where(persons, persons_url)}, "
        f"organizations {where(organizations, settings.profile_url if organizations == 'altinn' else None)}, "
        f"names {where(names, names_url)}"
    )


def startup_line(settings: Settings, command: str, *, listens: bool = True) -> tuple[str, dict[str, str]]:
    """The one start-up line: its event (the command, and where it listens) and its fields."""
    event = f"altinn-notifications {command}" + (f", listening on {listen_url(settings)}" if listens else "")
    return event, startup_summary(settings)


def _announce(settings: Settings, command: str, *, listens: bool = True) -> None:
    import structlog

    event, fields = startup_line(settings, command, listens=listens)
    structlog.get_logger("altinn_notifications").info(event, **fields)


def _run_api(settings: Settings, *, run_workers: bool) -> None:
    import uvicorn

    import altinn_notifications.bootstrap  # noqa: F401  (imported before logging is set up: see api_process_app)
    from altinn_notifications.logging import configure_logging

    configure_logging(settings.log_level, settings.log_format)
    # uvicorn handles SIGTERM/SIGINT: the lifespan then stops the workers and closes everything. Afterwards it
    # re-raises the signal; exiting normally then lets exit handlers run (they stop the embedded PostgreSQL).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    if settings.api_processes > 1:
        if not run_workers:
            _run_api_processes(settings)
            return
        typer.echo("NOTIFICATIONS_API_PROCESSES applies to `api`; `serve` runs one process", err=True)
    _announce(settings, "serve" if run_workers else "api")
    uvicorn.run(_api_app(settings, run_workers=run_workers), **_uvicorn_options(settings))


def _api_app(settings: Settings, *, run_workers: bool) -> Any:
    from altinn_notifications.api.app import create_app
    from altinn_notifications.bootstrap import build_container

    announce = _print_console_link if run_workers and prints_console_link(settings) else None
    return create_app(
        container_factory=lambda: build_container(settings), run_workers=run_workers, on_ready=announce
    )


def prints_console_link(settings: Settings) -> bool:
    """`serve` prints a one-time console sign-in link: when asked to, else with the embedded defaults."""
    if not settings.console_enabled:
        return False
    if settings.console_signin_link is not None:
        return settings.console_signin_link
    return settings.uses_dev_key


def _print_console_link(container: Any) -> None:
    # Printed, not logged: the link signs its first user in, so it goes to the terminal only.
    typer.echo(
        "\n  Operator console: open this one-time sign-in link (valid for a day, for one use):\n"
        f"      {container.console_signer.signin_link(container.settings.base_uri_str)}\n",
        err=True,
    )


def _uvicorn_options(settings: Settings) -> dict[str, Any]:
    from altinn_notifications.api.server import uvicorn_options

    return uvicorn_options(settings)


def _run_api_processes(settings: Settings) -> None:
    """`api_processes` uvicorn worker processes on one port. This process resolves the database (starting
    the embedded one) and migrates it once, then hands the resolved settings to the children through the
    environment (`api_process_app` reads them)."""
    import os
    import shutil

    import uvicorn

    from altinn_notifications.bootstrap import resolve_database_url
    from altinn_notifications.db import migrate

    _announce(settings, f"api ({settings.api_processes} processes)")
    url = resolve_database_url(settings)
    if settings.run_migrations:
        migrate.upgrade(url)
    # The children's metrics, shared so that /metrics counts all of them (emptied: counts of a past run).
    metrics_dir = settings.data_dir.resolve() / "metrics"
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    os.environ.update(
        NOTIFICATIONS_DATABASE_URL=url,
        NOTIFICATIONS_RUN_MIGRATIONS="false",
        NOTIFICATIONS_DATA_DIR=str(settings.data_dir.resolve()),
        NOTIFICATIONS_HOST=settings.host,
        NOTIFICATIONS_PORT=str(settings.port),
        NOTIFICATIONS_BASE_URI=settings.base_uri_str,
    )
    uvicorn.run(
        "altinn_notifications.cli:api_process_app",
        factory=True,
        workers=settings.api_processes,
        **_uvicorn_options(settings),
    )


def api_process_app() -> Any:
    """The app of one of several `api` processes (uvicorn imports this in each child)."""
    # Alembic announces its plugins when first imported; with logging not yet set up, that stays quiet.
    import altinn_notifications.bootstrap  # noqa: F401
    from altinn_notifications.logging import configure_logging

    settings = _settings()
    configure_logging(settings.log_level, settings.log_format)
    return _api_app(settings, run_workers=False)


@app.command()
def serve(
    host: HostOpt = None,
    port: PortOpt = None,
    database_url: DbOpt = None,
    data_dir: DataOpt = None,
    base_uri: BaseOpt = None,
) -> None:
    """Run the service (API and background work) with embedded defaults."""
    settings = _settings(
        host=host, port=port, database_url=database_url, data_dir=data_dir, base_uri=base_uri
    )
    _run_api(settings, run_workers=True)


@app.command()
def api(
    host: HostOpt = None,
    port: PortOpt = None,
    database_url: DbOpt = None,
    data_dir: DataOpt = None,
    base_uri: BaseOpt = None,
    processes: Annotated[
        int | None, typer.Option(help="Processes sharing the port [NOTIFICATIONS_API_PROCESSES].")
    ] = None,
) -> None:
    """Run the HTTP API only."""
    settings = _settings(
        host=host,
        port=port,
        database_url=database_url,
        data_dir=data_dir,
        base_uri=base_uri,
        api_processes=processes,
    )
    _run_api(settings, run_workers=False)


@app.command()
def worker(database_url: DbOpt = None, data_dir: DataOpt = None) -> None:
    """Run the background loops only (processing, dispatch, reports, maintenance); stops on SIGTERM."""
    import asyncio
    import signal

    from altinn_notifications.bootstrap import build_container, freeze_startup_objects
    from altinn_notifications.logging import configure_logging
    from altinn_notifications.workers import Workers

    settings = _settings(database_url=database_url, data_dir=data_dir)
    configure_logging(settings.log_level, settings.log_format)
    _announce(settings, "worker", listens=False)

    async def main() -> None:
        container = await build_container(settings)
        workers = Workers(container)
        freeze_startup_objects()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, workers.request_stop)
        try:
            await workers.run()
        finally:
            await container.close()

    asyncio.run(main())


@app.command()
def outbox(
    limit: Annotated[int, typer.Option(help="How many of the newest messages.")] = 20,
    channel: Annotated[str | None, typer.Option(help="email or sms")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The raw entries, one JSON object a line.")] = False,
    data_dir: DataOpt = None,
) -> None:
    """List what the simulated and SMTP providers handed off (newest last), as a table or JSON lines."""
    import json

    from altinn_notifications.providers.outbox import Outbox, format_table

    if channel not in (None, "email", "sms"):
        raise typer.BadParameter("channel must be email or sms")
    settings = _settings(data_dir=data_dir)
    wanted: Literal["email", "sms"] | None = "email" if channel == "email" else "sms" if channel else None
    box = Outbox(settings.data_dir / "outbox.jsonl")
    entries = box.read(limit, channel=wanted)
    if as_json:
        for line in entries:
            typer.echo(json.dumps(line, ensure_ascii=False))
    elif entries:
        typer.echo(format_table(entries))
    else:
        typer.echo(f"the outbox is empty ({box.path})")


@app.command()
def migrate(database_url: DbOpt = None, data_dir: DataOpt = None) -> None:
    """Apply database migrations and exit."""
    from altinn_notifications.bootstrap import resolve_database_url
    from altinn_notifications.db import migrate as migrations

    settings = _settings(database_url=database_url, data_dir=data_dir)
    migrations.upgrade(resolve_database_url(settings))
    typer.echo("database is up to date")


@app.command()
def token(
    org: Annotated[
        str | None, typer.Option(help="Service-owner org code, e.g. ttd (optional with --scope).")
    ] = None,
    scope: Annotated[
        list[str] | None,
        typer.Option(
            help="Scope to grant (repeatable; default the service-owner create scope). Support staff: "
            f"--scope {SCOPE_SUPPORT}."
        ),
    ] = None,
    ttl: Annotated[int, typer.Option(help="Lifetime in seconds.")] = 3600,
    platform_issuer: Annotated[
        str | None,
        typer.Option(
            help="Instead: a PlatformAccessToken of this issuer, signed with <issuer>.pem of "
            "NOTIFICATIONS_PLATFORM_TOKEN_KEYS_DIR (development)."
        ),
    ] = None,
    app_name: Annotated[
        str | None, typer.Option("--app", help="urn:altinn:app of the platform token.")
    ] = None,
    create_key: Annotated[
        bool, typer.Option(help="Generate the platform issuer's key in that directory when absent.")
    ] = False,
    data_dir: DataOpt = None,
) -> None:
    """Print a bearer token signed with the local development key (trusted by the embedded default): a
    service owner's (`--org ttd`), support staff's (`--scope altinn:notifications.support.admin`), any scopes."""
    from altinn_notifications.auth.dev import dev_platform_key, mint_platform_token, mint_token

    settings = _settings(data_dir=data_dir)
    if platform_issuer is not None:
        try:
            key = dev_platform_key(settings, platform_issuer, create=create_key)
        except ValueError as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(2) from None
        app_claim = app_name or f"{platform_issuer}/dev-app"
        sys.stdout.write(
            mint_platform_token(key, issuer=platform_issuer, app=app_claim, ttl_seconds=ttl) + "\n"
        )
        return
    if org is None and not scope:
        typer.echo("--org is required (or --scope, or --platform-issuer)", err=True)
        raise typer.Exit(2)
    if not settings.uses_dev_key:
        typer.echo("a JWKS URL or file is configured: tokens must come from that issuer", err=True)
        raise typer.Exit(2)
    sys.stdout.write(mint_token(settings, org=org, scopes=scope or [SCOPE_CREATE], ttl_seconds=ttl) + "\n")


@app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []},
    add_help_option=False,
)
def send(ctx: typer.Context) -> None:
    """Send an email or SMS through any instance's API: `send email|sms --to ... --body ...` (the client's CLI;
    `send --help` lists its options)."""
    from altinn_notifications_client.cli import run

    raise typer.Exit(run(["send", *ctx.args]))


console_app = typer.Typer(help="The operator console.", no_args_is_help=True)
app.add_typer(console_app, name="console")


@console_app.command("hash-password")
def console_hash_password(
    password: Annotated[
        str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True, help="The password.")
    ],
) -> None:
    """Print a PBKDF2 hash of an operator password, for NOTIFICATIONS_CONSOLE_PASSWORD."""
    from altinn_notifications.console.security import hash_password

    typer.echo(hash_password(password))


@console_app.command("link")
def console_signin_link(data_dir: DataOpt = None) -> None:
    """Print a one-time console sign-in link (signed with the console's session secret)."""
    from altinn_notifications.console.security import ConsoleSigner

    settings = _settings(data_dir=data_dir)
    typer.echo(ConsoleSigner.from_settings(settings).signin_link(settings.base_uri_str))


def _mount_registry() -> None:
    from altinn_notifications.recipients.cli import registry_app

    app.add_typer(registry_app, name="registry", help="Import and export the local contact registry.")


_mount_registry()


def _mount_reports() -> None:
    from altinn_notifications.reports.cli import reports_app

    app.add_typer(reports_app, name="reports", help="Dead delivery reports: list and replay.")


_mount_reports()

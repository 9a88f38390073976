"""Start-up: one line telling where the service listens, its database, its providers and its registers;
never a secret in it; no third-party warnings and no migration chatter around it."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from altinn_notifications.cli import startup_line
from altinn_notifications.config import Settings
from altinn_notifications.db.embedded import stop_embedded_postgres
from tests.loopback import free_port

CLI = Path(sys.executable).with_name("altinn-notifications")
ACS_KEY = "YWNzLXNlY3JldC1rZXk="  # base64 of "acs-secret-key"
SECRETS = ("db-secret", "smtp-secret", "link-secret", "report-secret", "token-secret", ACS_KEY, "sig-secret")


def _vendor_settings(tmp_path: Path, **extra: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": tmp_path,
        "port": 8123,
        "database_url": "postgresql://app:db-secret@db.example:5432/notifications?sslmode=require&password=db-secret",
        "email_provider": "smtp",
        "smtp_host": "smtp.example",
        "smtp_port": 587,
        "smtp_username": "mailer",
        "smtp_password": SecretStr("smtp-secret"),
        "sms_provider": "linkmobility",
        "linkmobility_url": "https://gateway:link-secret@sms.example/xml?sig=sig-secret",
        "linkmobility_username": "altinn",
        "linkmobility_password": SecretStr("link-secret"),
        "sms_reports_username": "reports",
        "sms_reports_password": SecretStr("report-secret"),
        "profile_url": "https://platform.example/profile/api/v1/",
        "authorization_url": "https://platform.example/authorization/api/v1/",
        "platform_access_token": SecretStr("token-secret"),
    }
    return Settings(**(values | extra))


def test_the_line_names_listener_database_providers_and_registers_without_secrets(tmp_path: Path) -> None:
    event, fields = startup_line(_vendor_settings(tmp_path), "serve")
    assert event == "altinn-notifications serve, listening on http://127.0.0.1:8123"
    assert fields == {
        "database": "postgresql://app@db.example:5432/notifications?sslmode=require",
        "email": "smtp smtp.example:587",
        "sms": "linkmobility https://gateway@sms.example/xml",
        "registers": (
            "profile https://platform.example/profile/api/v1/, register local, "
            "authorization https://platform.example/authorization/api/v1/"
        ),
    }
    text = event + repr(fields)
    assert not [s for s in SECRETS if s in text]


def test_the_line_names_acs_by_its_endpoint_only(tmp_path: Path) -> None:
    settings = _vendor_settings(
        tmp_path,
        email_provider="acs",
        acs_connection_string=SecretStr(
            f"endpoint=https://acs.example.communication.azure.com/;accesskey={ACS_KEY}"
        ),
        acs_reports_access_key=SecretStr("report-secret"),
    )
    _, fields = startup_line(settings, "api")
    assert fields["email"] == "acs https://acs.example.communication.azure.com"
    assert ACS_KEY not in repr(fields)


def test_the_defaults_are_embedded_simulated_and_local(tmp_path: Path) -> None:
    event, fields = startup_line(Settings(data_dir=tmp_path, database_url=None), "worker", listens=False)
    assert event == "altinn-notifications worker"
    assert fields == {
        "database": f"embedded at {(tmp_path / 'pg').resolve()}",
        "email": "simulated",
        "sms": "simulated",
        "registers": "local",
    }


def test_the_line_names_the_national_registers(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        database_url=None,
        persons_source="krr",
        krr_url="https://kontaktregisteret.example/rest/v2/personer",
        names_source="brreg",
        maskinporten_issuer="https://maskinporten.example/",
        maskinporten_client_id="client",
        maskinporten_key_file=tmp_path / "key.pem",
        maskinporten_key_id="kid",
    )
    _, fields = startup_line(settings, "worker", listens=False)
    assert fields["registers"] == (
        "persons krr https://kontaktregisteret.example/rest/v2/personer, organizations local, "
        "names brreg https://data.brreg.no/enhetsregisteret/api/"
    )


@pytest.mark.slow
def test_serve_starts_with_one_line_and_no_warnings() -> None:
    """`serve` on a fresh machine: embedded PostgreSQL initialised and migrated, vendors configured."""
    # A short path: PostgreSQL's Unix socket lives in the data dir, and socket paths are limited to ~100 bytes.
    data_dir = Path(tempfile.mkdtemp(prefix="an-start-"))
    port, closed = free_port(), free_port()
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("NOTIFICATIONS_") and name != "XDG_RUNTIME_DIR" and "proxy" not in name.lower()
    }
    env.update(
        NOTIFICATIONS_EMAIL_PROVIDER="smtp",
        NOTIFICATIONS_SMTP_HOST="127.0.0.1",
        NOTIFICATIONS_SMTP_PORT=str(closed),
        NOTIFICATIONS_SMTP_USERNAME="mailer",
        NOTIFICATIONS_SMTP_PASSWORD="smtp-secret",
        NOTIFICATIONS_SMS_PROVIDER="linkmobility",
        NOTIFICATIONS_LINKMOBILITY_URL=f"http://127.0.0.1:{closed}/",
        NOTIFICATIONS_LINKMOBILITY_USERNAME="altinn",
        NOTIFICATIONS_LINKMOBILITY_PASSWORD="link-secret",
        NOTIFICATIONS_SMS_REPORTS_USERNAME="reports",
        NOTIFICATIONS_SMS_REPORTS_PASSWORD="report-secret",
    )
    stderr_path = data_dir / "serve.stderr"
    try:
        with stderr_path.open("wb") as err:
            process = subprocess.Popen(
                [str(CLI), "serve", "--port", str(port), "--data-dir", str(data_dir)],
                env=env,
                stdout=subprocess.PIPE,
                stderr=err,
            )
        try:
            deadline = time.monotonic() + 60
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", trust_env=False, timeout=5.0) as http:
                while True:
                    assert process.poll() is None, stderr_path.read_text()
                    assert time.monotonic() < deadline, "never answered Healthy\n" + stderr_path.read_text()
                    try:
                        if http.get("/health").text == "Healthy":
                            break
                    except httpx.TransportError:
                        pass
                    time.sleep(0.2)
            process.send_signal(signal.SIGTERM)
            stdout, _ = process.communicate(timeout=20)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(10)
        stderr = stderr_path.read_text()
        assert process.returncode == 0, stderr
    finally:
        stop_embedded_postgres(data_dir)
        shutil.rmtree(data_dir, ignore_errors=True)

    lines = [line for line in stderr.splitlines() if "altinn-notifications serve" in line]
    assert len(lines) == 1, stderr
    [line] = lines
    assert f"altinn-notifications serve, listening on http://127.0.0.1:{port}" in line
    assert f"database='embedded at {(data_dir / 'pg').resolve()}'" in line
    assert f"email='smtp 127.0.0.1:{closed}'" in line
    assert f"sms='linkmobility http://127.0.0.1:{closed}/'" in line
    assert "registers=local" in line
    assert not [s for s in SECRETS if s in stderr + stdout.decode()]
    assert "warning" not in stderr.lower(), stderr
    assert "Context impl" not in stderr and "Running upgrade" not in stderr, stderr
    assert stdout == b""


async def test_the_app_freezes_what_start_up_built(settings: Settings, database_url: str) -> None:
    """Full garbage collections skip the start-up heap (docs/benchmarks.md: they were the API's p99)."""
    import gc

    from altinn_notifications.api.app import create_app
    from altinn_notifications.bootstrap import build_container

    gc.unfreeze()
    app = create_app(container_factory=lambda: build_container(settings, database_url))
    try:
        async with app.router.lifespan_context(app):
            assert gc.get_freeze_count() > 10_000  # the modules, the container, the app
    finally:
        gc.unfreeze()

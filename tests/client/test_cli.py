"""`altinn-notifications send email|sms` against the service on loopback HTTP, and the script's delegation."""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
from pathlib import Path
from uuid import UUID

from altinn_notifications.bootstrap import Container
from altinn_notifications.recipients.registry import import_registry_document
from altinn_notifications_client.cli import run
from tests.conftest import ROOT
from tests.pipeline.conftest import RunWorkers


class Terminal(io.StringIO):
    """What the progress display writes to when stderr is a terminal."""

    def isatty(self) -> bool:
        return True


async def _run(*argv: str, err: io.StringIO | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), err if err is not None else io.StringIO()
    code = await asyncio.to_thread(run, list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


async def test_send_email_and_wait(
    service: str, token: str, run_workers: RunWorkers, container: Container
) -> None:
    args = [
        "send",
        "email",
        "--to",
        "ola@example.no",
        "--to",
        "kari@example.no",
        "--subject",
        "Hei",
        "--body",
        "Hallo",
    ]
    terminal = Terminal()
    async with run_workers():
        code, out, _ = await _run(
            *args,
            "--reference",
            "cli",
            "--wait",
            "--interval",
            "0.1",
            "--base-url",
            service,
            "--token",
            token,
            err=terminal,
        )
    assert code == 0, terminal.getvalue()
    lines = out.splitlines()
    ids = [UUID(line) for line in lines[:2]]
    assert f"{ids[0]} Order_Completed" in lines and f"{ids[1]} Order_Completed" in lines
    assert any(line.strip().startswith("Email ola@example.no Email_") for line in lines)
    assert "\r\033[K" in terminal.getvalue() and "final" in terminal.getvalue()  # the live progress line
    async with container.pool.acquire() as conn:
        stored = await conn.fetch("SELECT sendersreference FROM notifications.orders")
    assert [r["sendersreference"] for r in stored] == ["cli", "cli"]


async def test_send_sms_without_waiting_and_with_a_token_from_the_environment(
    service: str, token: str
) -> None:
    os.environ["ALTINN_NOTIFICATIONS_TOKEN"] = token
    try:
        code, out, err = await _run(
            "send", "sms", "--to", "+4799999999", "--body", "Hei", "--base-url", service
        )
    finally:
        del os.environ["ALTINN_NOTIFICATIONS_TOKEN"]
    assert code == 0, err
    assert UUID(out.strip())


async def test_progress_lines_when_not_on_a_terminal(
    service: str, token: str, run_workers: RunWorkers
) -> None:
    async with run_workers():
        code, out, err = await _run(
            "send",
            "sms",
            "--to",
            "+4799999999",
            "--body",
            "Hei",
            "--anytime",  # the hour of the test run must not matter (daytime is the default)
            "--wait",
            "--interval",
            "0.1",
            "--base-url",
            service,
            "--token",
            token,
        )
    assert code == 0
    shipment = out.splitlines()[0]
    assert f"{shipment}: Order_Completed" in err and "\r" not in err


async def test_refusals_and_bad_recipients(service: str, token: str, container: Container) -> None:
    code, out, err = await _run(
        "send",
        "email",
        "--to",
        "not-an-address",
        "--subject",
        "s",
        "--body",
        "b",
        "--base-url",
        service,
        "--token",
        token,
    )
    assert (code, out) == (2, "") and "not a valid email address" in err and "not-an-address" not in err

    code, _, err = await _run(
        "send",
        "email",
        "--org",
        "313441571",
        "--subject",
        "s",
        "--body",
        "b",
        "--base-url",
        service,
        "--token",
        token,
    )
    assert code == 1 and "NOT-00001" in err  # no register knows this organisation

    code, _, err = await _run(
        "send", "sms", "--to", "+4799999999", "--body", "b", "--base-url", service, "--token", "not-a-token"
    )
    assert code == 1 and "401" in err

    code, _, err = await _run("send", "sms", "--body", "b", "--base-url", service, "--token", token)
    assert code == 2 and "at least one recipient" in err

    code, _, err = await _run(
        "send",
        "sms",
        "--to",
        "+4799999999",
        "--body",
        "b",
        "--wait",
        "--timeout",
        "0.2",
        "--interval",
        "0.1",
        "--base-url",
        service,
        "--token",
        token,
    )
    assert code == 3 and "timed out" in err  # no workers run: the order never becomes final
    async with container.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM notifications.orders") == 1


async def test_send_to_a_person_and_an_organisation(
    service: str, token: str, run_workers: RunWorkers, container: Container
) -> None:
    await import_registry_document(
        container.pool,
        {
            "persons": [{"nationalIdentityNumber": "01017012345", "email": "ola@example.no"}],
            "organizations": [{"organizationNumber": "810419652", "emails": ["post@firma.no"]}],
        },
    )
    async with run_workers():
        code, out, err = await _run(
            "send",
            "email",
            "--person",
            "01017012345",
            "--org",
            "810419652",
            "--subject",
            "s",
            "--body",
            "b",
            "--wait",
            "--interval",
            "0.1",
            "--base-url",
            service,
            "--token",
            token,
        )
    assert code == 0, err
    assert "  Email ola@example.no Email_" in out and "  Email post@firma.no Email_" in out


def _script(*code: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT / "clients" / "python" / "src")]),
    }
    return subprocess.run(
        [sys.executable, "-c", "\n".join(code)], env=env, capture_output=True, text=True, timeout=60
    )


def test_the_client_script_hands_other_commands_to_the_service(tmp_path: Path) -> None:
    delegated = _script(
        "from altinn_notifications_client.cli import main",
        f"main(['token', '--org', 'ttd', '--data-dir', {str(tmp_path)!r}])",
    )
    assert delegated.returncode == 0, delegated.stderr
    assert delegated.stdout.count(".") == 2  # a JWT, printed by the service's `token`

    alone = _script(
        "import sys; sys.modules['altinn_notifications'] = None  # as if the service were not installed",
        "from altinn_notifications_client.cli import main",
        "main(['token', '--org', 'ttd'])",
    )
    assert alone.returncode == 2 and "needs the service" in alone.stderr
    helped = _script(
        "import sys; sys.modules['altinn_notifications'] = None",
        "from altinn_notifications_client.cli import main",
        "main(['send', 'sms', '--help'])",
    )
    assert helped.returncode == 0 and "--person" in helped.stdout


def test_the_service_cli_offers_send() -> None:
    from typer.testing import CliRunner

    from altinn_notifications.cli import app

    result = CliRunner().invoke(app, ["send", "email", "--help"])
    assert result.exit_code == 0 and "--subject" in result.output

"""`altinn-notifications outbox`: a readable table by default, the raw JSON lines with `--json`."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from typer.testing import CliRunner

from altinn_notifications.cli import app
from altinn_notifications.providers.base import Attachment
from altinn_notifications.providers.outbox import Outbox

EMAIL_ID, SMS_ID = uuid.uuid4(), uuid.uuid4()


def _fill(data_dir: Path) -> None:
    box = Outbox(data_dir)  # no event loop running: every line is written at once
    box.record_email(
        provider="simulated",
        notification_id=EMAIL_ID,
        to="kari@example.no",
        from_="noreply@altinn.no",
        subject="Your decision\nis ready " + "x" * 100,
        body="<p>Body</p>",
        result="Succeeded",
        reference="op-1",
        attachments=[Attachment(filename="a.pdf", mime_type="application/pdf", content=b"%PDF")],
    )
    box.record_sms(
        provider="simulated",
        notification_id=SMS_ID,
        to="+4799999999",
        from_="Altinn",
        body="Your code:\n123456",
        result="Accepted",
        reference="gw-1",
    )


def _run(*args: str) -> str:
    result = CliRunner().invoke(app, ["outbox", *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_the_outbox_prints_a_table_newest_last(tmp_path: Path) -> None:
    _fill(tmp_path)
    header, email, sms = _run("--data-dir", str(tmp_path)).splitlines()
    assert header.split() == ["SENT", "(UTC)", "CHANNEL", "RESULT", "TO", "FROM", "SUBJECT", "/", "TEXT"]
    assert email.split()[2:7] == ["email", "Succeeded", "kari@example.no", "noreply@altinn.no", "Your"]
    assert "Your decision is ready xx" in email and "…" in email and email.endswith("[1 attachment]")
    assert sms.split()[2:] == ["sms", "Accepted", "+4799999999", "Altinn", "Your", "code:", "123456"]
    # Columns line up: each column starts where its header does.
    for name in ("CHANNEL", "RESULT", "TO", "FROM"):
        column = header.index(name)
        assert email[column - 2 : column] == "  " and sms[column - 2 : column] == "  "
    assert email[:4].isdigit() and email[10] == " "  # 2026-01-01 12:00:00


def test_json_keeps_the_raw_lines_and_filters_apply(tmp_path: Path) -> None:
    _fill(tmp_path)
    lines = [json.loads(line) for line in _run("--json", "--data-dir", str(tmp_path)).splitlines()]
    assert [(e["channel"], e["notificationId"]) for e in lines] == [
        ("email", str(EMAIL_ID)),
        ("sms", str(SMS_ID)),
    ]
    assert lines[0]["attachments"] == [{"filename": "a.pdf", "mimeType": "application/pdf", "size": 4}]
    table = _run("--channel", "sms", "--data-dir", str(tmp_path)).splitlines()
    assert len(table) == 2 and " sms " in table[1]
    assert len(_run("--limit", "1", "--data-dir", str(tmp_path)).splitlines()) == 2


def test_an_empty_outbox_says_so(tmp_path: Path) -> None:
    assert _run("--data-dir", str(tmp_path)).startswith("the outbox is empty")

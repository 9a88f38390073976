"""`altinn-notifications reports dead|replay` against the test database, as a real process."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

from altinn_notifications.bootstrap import Container
from altinn_notifications.reports.repository import ReportRepository
from tests.reports.conftest import add_notification, dead_reports, notification, order_status

CLI = str(Path(sys.executable).parent / "altinn-notifications")


async def _cli(container: Container, *args: str) -> tuple[int, str, str]:
    env = {
        **os.environ,
        "NOTIFICATIONS_DATABASE_URL": container.database_url,
        "NOTIFICATIONS_DATA_DIR": str(container.settings.data_dir),
        "COLUMNS": "200",
    }
    process = await asyncio.create_subprocess_exec(
        CLI, *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def _dead(
    container: Container, channel: str, reference: str | None, result: str | None, reason: str
) -> int:
    async with container.transaction() as conn:
        return await ReportRepository(conn).add_dead(
            "email" if channel == "email" else "sms",
            {"reference": reference, "result": result, "report": {"to": "ola@example.no"}},
            attempts=7,
            first_seen=datetime.now(UTC),
            reason=reason,
            message="no notification with this reference after 7 attempts",
        )


async def test_list_and_replay_dead_reports(container: Container) -> None:
    late = await _dead(container, "email", "op-late", "Delivered", "RETRY_THRESHOLD_EXCEEDED")
    orphan = await _dead(container, "sms", "gw-orphan", "Delivered", "RETRY_THRESHOLD_EXCEEDED")
    broken = await _dead(container, "email", None, None, "UNRECOGNIZED_SEND_RESULT")

    code, out, _ = await _cli(container, "reports", "dead")
    assert code == 0
    for report_id in (late, orphan, broken):
        assert str(report_id) in out
    assert "RETRY_THRESHOLD_EXCEEDED" in out and "op-late" in out and "gw-orphan" in out
    assert "ola@example.no" not in out  # the vendor payload (addresses) is never printed

    code, out, _ = await _cli(container, "reports", "dead", "--limit", "1")
    assert code == 0 and str(broken) in out and "op-late" not in out

    # The notification turned up after all (e.g. its send result was delayed): replay applies the report.
    row = await add_notification(container, result="Succeeded", reference="op-late")
    code, out, _ = await _cli(container, "reports", "replay", "--id", str(late))
    assert code == 0, out
    assert f"{late}\temail\tapplied" in out and "resolved 1" in out
    assert (await notification(container, row))["result"] == "Delivered"
    assert await order_status(container, row.order_id) == "Completed"

    dead = {d["id"]: d for d in await dead_reports(container)}
    assert dead[late]["resolved"] and dead[late]["attemptcount"] == 8
    code, out, _ = await _cli(container, "reports", "dead")
    assert f"\n│ {late} " not in out and "op-late" not in out  # resolved reports are not listed by default
    code, out, _ = await _cli(container, "reports", "dead", "--include-resolved")
    assert "op-late" in out

    code, out, _ = await _cli(container, "reports", "replay", "--all")
    assert code == 0
    assert f"{orphan}\tsms\tnot_found" in out and f"{broken}\temail\tunreplayable" in out
    assert "replayed 2, resolved 0" in out
    dead = {d["id"]: d for d in await dead_reports(container)}
    assert not dead[orphan]["resolved"] and dead[orphan]["attemptcount"] == 8


async def test_replay_needs_an_id_or_all(container: Container) -> None:
    code, _, err = await _cli(container, "reports", "replay")
    assert code == 2 and "--id" in err
    code, out, _ = await _cli(container, "reports", "dead")
    assert code == 0 and "no dead delivery reports" in out

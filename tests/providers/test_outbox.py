"""The outbox: JSON Lines written off the event loop, read back newest last."""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

from altinn_notifications.providers.base import Attachment
from altinn_notifications.providers.outbox import OUTBOX_FILENAME, Outbox


async def eventually(predicate: Callable[[], bool], within: float = 2.0) -> None:
    """Wait (briefly polling) until `predicate()` holds; fail after `within` seconds."""
    step = 0.005
    for _ in range(int(within / step)):
        if predicate():
            return
        await asyncio.sleep(step)
    raise AssertionError("condition not met in time")


def _email(outbox: Outbox, n: int, *, to: str = "a@example.com") -> None:
    outbox.record_email(
        provider="simulated",
        notification_id=uuid4(),
        to=to,
        from_="noreply@example.com",
        subject=f"subject {n}",
        body=f"body {n}",
        result="Succeeded",
        reference=f"ref-{n}",
    )


def _sms(outbox: Outbox, n: int) -> None:
    outbox.record_sms(
        provider="simulated",
        notification_id=uuid4(),
        to="+4799999999",
        from_="Altinn",
        body=f"sms {n}",
        result="Accepted",
        reference=f"sms-ref-{n}",
    )


async def test_lines_are_buffered_then_flushed_with_all_fields(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path, flush_interval=60)
    notification_id = uuid4()
    outbox.record_email(
        provider="smtp",
        notification_id=notification_id,
        to="to@example.com",
        from_="from@example.com",
        subject="Hei",
        body="Innhold æøå",
        result="Delivered",
        reference="<x@example.com>",
        attachments=(Attachment("a.pdf", "application/pdf", b"%PDF"),),
    )
    path = tmp_path / OUTBOX_FILENAME
    assert not path.exists()  # nothing written on the caller's path
    assert outbox.read(10)[0]["body"] == "Innhold æøå"  # unflushed entries are visible to read
    await outbox.close()

    lines = path.read_text("utf-8").splitlines()
    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert entry["sentAt"].endswith("Z")
    assert {k: v for k, v in entry.items() if k != "sentAt"} == {
        "provider": "smtp",
        "channel": "email",
        "notificationId": str(notification_id),
        "to": "to@example.com",
        "from": "from@example.com",
        "subject": "Hei",
        "body": "Innhold æøå",
        "contentType": "Plain",
        "result": "Delivered",
        "reference": "<x@example.com>",
        "attachments": [{"filename": "a.pdf", "mimeType": "application/pdf", "size": 4}],
    }
    assert path.stat().st_mode & 0o777 == 0o600


async def test_background_flush_writes_without_close(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path, flush_interval=0.01)
    try:
        _sms(outbox, 1)
        path = tmp_path / OUTBOX_FILENAME
        await eventually(path.exists)
        assert json.loads(path.read_text("utf-8"))["channel"] == "sms"
        assert "subject" not in json.loads(path.read_text("utf-8"))
    finally:
        await outbox.close()


async def test_full_buffer_triggers_an_early_flush(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path, flush_interval=60, max_buffered=10)
    try:
        for n in range(10):
            _email(outbox, n)
        path = tmp_path / OUTBOX_FILENAME
        await eventually(path.exists)
        assert len(path.read_text("utf-8").splitlines()) == 10
    finally:
        await outbox.close()


async def test_read_limit_channel_and_order(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.jsonl")  # a .jsonl path is the file itself
    for n in range(5):
        _email(outbox, n)
        _sms(outbox, n)
    await outbox.close()
    assert (tmp_path / "outbox.jsonl").is_file()

    reader = Outbox(tmp_path)
    assert [e["subject"] for e in reader.read(3, channel="email")] == ["subject 2", "subject 3", "subject 4"]
    assert [e["body"] for e in reader.read(2, channel="sms")] == ["sms 3", "sms 4"]
    everything = reader.read(100)
    assert len(everything) == 10
    assert everything[-1]["body"] == "sms 4"
    assert reader.read(0) == []


async def test_read_tail_of_a_large_file_across_chunks(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path)
    for n in range(2_000):
        _email(outbox, n, to=f"user{n}@example.com")
    await outbox.close()
    path = tmp_path / OUTBOX_FILENAME
    assert path.stat().st_size > 3 * 64 * 1024
    with path.open("ab") as handle:
        handle.write(b'{"truncated": ')  # a line still being written by another process
    entries = Outbox(tmp_path).read(1_500)
    assert len(entries) == 1_500
    assert [e["subject"] for e in entries] == [f"subject {n}" for n in range(500, 2_000)]


async def test_two_writers_on_one_file_write_whole_lines(tmp_path: Path) -> None:
    first, second = Outbox(tmp_path, flush_interval=0.001), Outbox(tmp_path, flush_interval=0.001)
    for n in range(300):
        _email(first, n)
        _sms(second, n)
        if n % 50 == 0:
            await asyncio.sleep(0.005)
    await first.close()
    await second.close()
    lines = (tmp_path / OUTBOX_FILENAME).read_text("utf-8").splitlines()
    assert len(lines) == 600
    assert all(json.loads(line)["provider"] == "simulated" for line in lines)


async def test_disabled_outbox_writes_nothing(tmp_path: Path) -> None:
    for outbox in (Outbox(None), Outbox(tmp_path, enabled=False)):
        assert not outbox.enabled
        _email(outbox, 1)
        assert outbox.read(10) == []
        await outbox.close()
    assert not (tmp_path / OUTBOX_FILENAME).exists()


def test_without_an_event_loop_lines_are_written_at_once(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "nested" / "dir")
    _email(outbox, 1)
    assert len(outbox.read(10)) == 1
    assert (tmp_path / "nested" / "dir" / OUTBOX_FILENAME).is_file()


async def test_record_after_close_is_still_written(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path)
    await outbox.close()
    _email(outbox, 1)
    await outbox.close()
    assert len((tmp_path / OUTBOX_FILENAME).read_text("utf-8").splitlines()) == 1


# --- retention ---


def _entry(sent: datetime, n: int) -> dict[str, object]:
    return {"sentAt": sent.isoformat().replace("+00:00", "Z"), "channel": "sms", "body": f"body {n}"}


def _bodies(outbox: Outbox) -> list[object]:
    return [e["body"] for e in outbox.read(10_000)]


def test_entries_older_than_the_retention_are_deleted(tmp_path: Path) -> None:
    now = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    outbox = Outbox(tmp_path, max_age=timedelta(days=7))
    for n in range(10):  # one a day, oldest first: 9 days ago .. today
        outbox.append(_entry(now - timedelta(days=9 - n), n))
    assert outbox.prune(now) == 2  # 9 and 8 days old; 7 days old is not older than the retention
    assert _bodies(outbox) == [f"body {n}" for n in range(2, 10)]
    assert outbox.prune(now) == 0
    assert (tmp_path / OUTBOX_FILENAME).stat().st_mode & 0o777 == 0o600


def test_a_file_past_its_size_limit_keeps_the_newest_whole_entries(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    outbox = Outbox(tmp_path, max_bytes=10_000)
    for n in range(1_000):
        outbox.append(_entry(now, n))
    path = tmp_path / OUTBOX_FILENAME
    size = path.stat().st_size
    assert size > 10_000
    dropped = outbox.prune()
    assert 7_000 <= path.stat().st_size <= 7_500  # three quarters of the limit, to a whole entry
    kept = _bodies(outbox)
    assert len(kept) == 1_000 - dropped
    assert kept == [f"body {n}" for n in range(dropped, 1_000)]  # the newest, every line whole
    assert len(path.read_bytes().splitlines()) == len(kept)
    assert outbox.prune() == 0  # within the limit now


async def test_the_flusher_prunes_on_its_own(tmp_path: Path) -> None:
    old = datetime.now(UTC) - timedelta(days=30)
    Outbox(tmp_path).append(_entry(old, 0))
    outbox = Outbox(tmp_path, flush_interval=0.001, max_age=timedelta(days=7))
    _email(outbox, 1)
    await outbox.flush()
    assert [e["channel"] for e in outbox.read(10)] == ["email"]
    await outbox.close()


def test_a_write_waiting_for_a_prune_goes_to_the_new_file(tmp_path: Path) -> None:
    """Another process appends while a prune holds the lock and replaces the file: once the lock is
    released, the writer sees the file was replaced and appends to the new one."""
    path = tmp_path / OUTBOX_FILENAME
    outbox = Outbox(tmp_path)
    outbox.append({"body": "before"})
    held = os.open(path, os.O_RDWR)
    fcntl.flock(held, fcntl.LOCK_EX)  # what `prune` does first
    writer = threading.Thread(target=outbox.append, args=({"body": "during"},))
    writer.start()
    try:
        writer.join(0.2)
        assert writer.is_alive()  # waiting for the lock
        replacement = tmp_path / "replacement"
        replacement.write_bytes(b'{"body":"kept"}\n')
        os.replace(replacement, path)
    finally:
        os.close(held)  # releases the lock
    writer.join(5)
    assert not writer.is_alive()
    assert [e["body"] for e in outbox.read(10)] == ["kept", "during"]

"""The outbox: a record of every message a simulated or SMTP provider handled, for the operator to list.

One JSON object per line in `{data_dir}/outbox.jsonl`, oldest first:

    {"sentAt": "2026-01-01T12:00:00.123456Z", "provider": "simulated", "channel": "email",
     "notificationId": "...", "to": "...", "from": "...", "subject": "...", "body": "...",
     "result": "Succeeded", "reference": "..."}

`subject` and `contentType` (`Plain` or `Html`) are present for email only; `attachments` (file name, MIME type, size; never the content) is
present for email with attachments. Every send attempt is recorded with the result the provider returned
at send time (a transient failure as `Failed_TransientError`); later delivery reports are not recorded.

Writing never blocks the event loop on the disk: `record_email`/`record_sms`/`append` only serialise
the line into an in-memory buffer; a background task writes the buffer every `flush_interval` seconds
(sooner when it grows past `max_buffered` lines) and on `close`, in a worker thread. Each batch is written
with one `os.write` on a file opened with `O_APPEND`, so several processes can append to the same file
without interleaving within a batch of whole lines. When no event loop is running (or after `close`), a
line is written synchronously. Providers do not close the outbox they are given: its owner (the
composition root) calls `close` after closing the providers, so the last lines reach the file.

The file holds addresses and message bodies (personal data): it is created with mode 0600 and is meant
for development and self-hosted test setups. `Outbox(None)` or `enabled=False` disables it entirely.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Generator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import structlog

from altinn_notifications.providers.base import Attachment
from altinn_notifications.vocabulary import Channel

log = structlog.get_logger(__name__)

OUTBOX_FILENAME = "outbox.jsonl"

_READ_CHUNK = 64 * 1024


def _utc_now_iso() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class Outbox:
    """Append-only JSON Lines record of handed-off messages.

    `location` is the data directory (the file is `location / "outbox.jsonl"`), or the file itself when
    it ends in `.jsonl`. `None` disables the outbox, as does `enabled=False`.
    """

    def __init__(
        self,
        location: Path | str | None,
        *,
        enabled: bool = True,
        flush_interval: float = 0.2,
        max_buffered: int = 5_000,
    ) -> None:
        self.path: Path | None
        if location is None or not enabled:
            self.path = None
        else:
            candidate = Path(location)
            self.path = candidate if candidate.suffix == ".jsonl" else candidate / OUTBOX_FILENAME
        self._flush_interval = flush_interval
        self._max_buffered = max_buffered
        self._buffer: list[bytes] = []
        self._wake: asyncio.Event | None = None
        self._flusher: asyncio.Task[None] | None = None
        self._write_lock: asyncio.Lock | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self._dir_ready = False

    @property
    def enabled(self) -> bool:
        return self.path is not None

    # -- writing -------------------------------------------------------------------------------------

    def record_email(
        self,
        *,
        provider: str,
        notification_id: UUID,
        to: str,
        from_: str,
        subject: str,
        body: str,
        result: str,
        reference: str | None,
        attachments: Sequence[Attachment] = (),
        content_type: str = "Plain",
    ) -> None:
        if self.path is None:
            return
        entry: dict[str, Any] = {
            "sentAt": _utc_now_iso(),
            "provider": provider,
            "channel": "email",
            "notificationId": str(notification_id),
            "to": to,
            "from": from_,
            "subject": subject,
            "body": body,
            "contentType": content_type,
            "result": result,
            "reference": reference,
        }
        if attachments:
            entry["attachments"] = [
                {"filename": a.filename, "mimeType": a.mime_type, "size": len(a.content)} for a in attachments
            ]
        self.append(entry)

    def record_sms(
        self,
        *,
        provider: str,
        notification_id: UUID,
        to: str,
        from_: str,
        body: str,
        result: str,
        reference: str | None,
    ) -> None:
        if self.path is None:
            return
        self.append(
            {
                "sentAt": _utc_now_iso(),
                "provider": provider,
                "channel": "sms",
                "notificationId": str(notification_id),
                "to": to,
                "from": from_,
                "body": body,
                "result": result,
                "reference": reference,
            }
        )

    def append(self, entry: dict[str, Any]) -> None:
        """Queue one entry (any JSON-serialisable dict) for writing."""
        if self.path is None:
            return
        line = json.dumps(entry, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is None or self._closed:
            # No loop to flush from (CLI, sync code) or already closed: write this line now.
            self._write_safely(line)
            return
        self._buffer.append(line)
        if self._flusher is None or self._flusher.done() or self._loop is not loop:
            self._loop = loop
            self._wake = asyncio.Event()
            self._write_lock = asyncio.Lock()
            self._flusher = loop.create_task(self._flush_loop(), name="outbox-flusher")
        if len(self._buffer) >= self._max_buffered and self._wake is not None:
            self._wake.set()

    async def flush(self) -> None:
        """Write everything buffered so far."""
        if not self._buffer:
            return
        if self._write_lock is None:
            self._write_lock = asyncio.Lock()
        async with self._write_lock:
            lines, self._buffer = self._buffer, []
            if lines:
                await asyncio.to_thread(self._write_safely, b"".join(lines))

    async def close(self) -> None:
        """Stop the background flusher and write what is left. Safe to call twice."""
        self._closed = True
        flusher, self._flusher = self._flusher, None
        if flusher is not None and not flusher.done():
            if self._wake is not None:
                self._wake.set()
            await asyncio.gather(flusher, return_exceptions=True)
        await self.flush()

    async def _flush_loop(self) -> None:
        wake = self._wake
        assert wake is not None
        while not self._closed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=self._flush_interval)
            wake.clear()
            try:
                await self.flush()
            except Exception:
                log.exception("outbox flush failed")

    def _write_safely(self, data: bytes) -> None:
        try:
            self._write(data)
        except OSError as exc:
            log.warning("outbox write failed; entries dropped", error=type(exc).__name__, bytes=len(data))

    def _write(self, data: bytes) -> None:
        path = self.path
        if path is None:
            return
        if not self._dir_ready:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._dir_ready = True
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
        finally:
            os.close(fd)

    # -- reading -------------------------------------------------------------------------------------

    def read(self, limit: int = 100, channel: Channel | None = None) -> list[dict[str, Any]]:
        """The last `limit` entries (optionally of one channel), oldest first, newest last.

        Reads the file from its end, so listing the tail of a large outbox is cheap. Entries of this
        instance not yet flushed are included. Malformed lines (e.g. a line still being written) are
        skipped.
        """
        if self.path is None or limit <= 0:
            return []
        newest_first: list[dict[str, Any]] = []
        for raw in reversed(self._buffer):
            entry = _parse(raw)
            if entry is not None and (channel is None or entry.get("channel") == channel):
                newest_first.append(entry)
                if len(newest_first) >= limit:
                    break
        if len(newest_first) < limit:
            with contextlib.closing(_iter_lines_from_end(self.path)) as lines:
                for raw in lines:
                    entry = _parse(raw)
                    if entry is not None and (channel is None or entry.get("channel") == channel):
                        newest_first.append(entry)
                        if len(newest_first) >= limit:
                            break
        newest_first.reverse()
        return newest_first


def _parse(raw: bytes) -> dict[str, Any] | None:
    raw = raw.strip()
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _iter_lines_from_end(path: Path) -> Generator[bytes, None, None]:
    """Lines of the file, newest first, reading 64 KiB chunks backwards from the end."""
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return
    with handle:
        handle.seek(0, os.SEEK_END)
        position = handle.tell()
        tail = b""
        while position > 0:
            size = min(_READ_CHUNK, position)
            position -= size
            handle.seek(position)
            parts = (handle.read(size) + tail).split(b"\n")
            tail = parts[0]
            yield from reversed(parts[1:])
        if tail:
            yield tail


# --- the operator's table (`altinn-notifications outbox`) ---

_COLUMNS = (
    ("SENT (UTC)", 19),
    ("CHANNEL", 7),
    ("RESULT", 22),
    ("TO", 30),
    ("FROM", 24),
    ("SUBJECT / TEXT", 0),
)
_TEXT_WIDTH = 60


def _cell(value: object, width: int) -> str:
    """One line of at most `width` characters (0: unbounded up to the text width), cut with an ellipsis."""
    text = " ".join(str(value if value is not None else "").split())
    limit = width or _TEXT_WIDTH
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _sent(value: object) -> str:
    text = str(value or "")
    return text[:19].replace("T", " ")


def _summary(entry: dict[str, Any]) -> str:
    """An email's subject (and how many attachments it had), an SMS's text."""
    if entry.get("channel") == "email":
        attachments = entry.get("attachments") or []
        suffix = (
            f" [{len(attachments)} attachment{'s' if len(attachments) != 1 else ''}]" if attachments else ""
        )
        return _cell(entry.get("subject"), _TEXT_WIDTH - len(suffix)) + suffix
    return _cell(entry.get("body"), _TEXT_WIDTH)


def format_table(entries: Sequence[dict[str, Any]]) -> str:
    """Entries as an aligned plain-text table, one line each, in the order given."""
    rows = [
        (
            _sent(e.get("sentAt")),
            _cell(e.get("channel"), 7),
            _cell(e.get("result"), 22),
            _cell(e.get("to"), 30),
            _cell(e.get("from"), 24),
            _summary(e),
        )
        for e in entries
    ]
    header = tuple(name for name, _ in _COLUMNS)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in [header, *rows]
    ]
    return "\n".join(lines)

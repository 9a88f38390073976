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
for development and self-hosted test setups (by default only the simulated providers write to it; see
`bootstrap.outbox_for`). `Outbox(None)` or `enabled=False` disables it entirely.

Retention: with `max_age`, entries older than that are deleted; with `max_bytes`, once the file is larger
the oldest entries are deleted until it is at three quarters of the limit (so that it is not rewritten on
every flush). `prune` does both; the flusher runs it after a flush at most every `prune_interval` seconds
(also at the first flush, i.e. soon after a start). Pruning rewrites the file to a temporary one and
renames it over the old one under an exclusive `flock`; writers take the same lock around each append and
reopen the file when it was replaced meanwhile, so an entry appended by another process is never lost to
a concurrent prune.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import time
from collections.abc import Generator, Sequence
from datetime import UTC, datetime, timedelta
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
        max_bytes: int | None = None,
        max_age: timedelta | None = None,
        prune_interval: float = 60.0,
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
        self.max_bytes = max_bytes
        self.max_age = max_age
        self._prune_interval = prune_interval
        self._last_prune: float | None = None

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
            if self._prune_due():
                self._last_prune = time.monotonic()
                await asyncio.to_thread(self._prune_safely)

    def _prune_due(self) -> bool:
        if self.max_bytes is None and self.max_age is None:
            return False
        return self._last_prune is None or time.monotonic() - self._last_prune >= self._prune_interval

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
        while True:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                if not _is_current(fd, path):
                    continue  # a prune replaced the file while we waited for the lock: open the new one
                view = memoryview(data)
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
                return
            finally:
                os.close(fd)  # also releases the lock

    # -- retention -----------------------------------------------------------------------------------

    def prune(self, now: datetime | None = None) -> int:
        """Delete the entries beyond the retention limits (see the module docstring); returns how many."""
        path = self.path
        if path is None or (self.max_bytes is None and self.max_age is None):
            return 0
        try:
            fd = os.open(path, os.O_RDWR)
        except FileNotFoundError:
            return 0
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if not _is_current(fd, path):
                return 0  # another process pruned it a moment ago
            with os.fdopen(os.dup(fd), "rb") as handle:
                size = os.fstat(fd).st_size
                cut = max(self._age_cut(handle, now or datetime.now(UTC)), self._size_cut(handle, size))
                if cut <= 0:
                    return 0
                handle.seek(0)
                dropped = sum(chunk.count(b"\n") for chunk in _chunks(handle, cut))
                handle.seek(cut)
                _replace_with_rest(path, handle)
        finally:
            os.close(fd)
        log.info("outbox pruned", entries=dropped)
        return dropped

    def _prune_safely(self) -> None:
        try:
            self.prune()
        except OSError as exc:
            log.warning("outbox prune failed", error=type(exc).__name__)

    def _age_cut(self, handle: Any, now: datetime) -> int:
        """Offset of the first entry young enough to keep (entries are appended oldest first)."""
        if self.max_age is None:
            return 0
        oldest = now - self.max_age
        handle.seek(0)
        offset = 0
        for raw in handle:
            sent = _sent_at(raw)
            if sent is not None and sent >= oldest:
                return offset
            offset += len(raw)
        return offset

    def _size_cut(self, handle: Any, size: int) -> int:
        """Offset of the first whole entry within three quarters of `max_bytes` from the end."""
        if self.max_bytes is None or size <= self.max_bytes:
            return 0
        handle.seek(size - self.max_bytes * 3 // 4)
        handle.readline()  # the rest of a cut entry
        return int(handle.tell())

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


def _is_current(fd: int, path: Path) -> bool:
    """Whether `fd` is still the file at `path` (a prune renames a new file over it)."""
    try:
        current = os.stat(path)
    except FileNotFoundError:
        return False
    opened = os.fstat(fd)
    return (opened.st_dev, opened.st_ino) == (current.st_dev, current.st_ino)


def _sent_at(raw: bytes) -> datetime | None:
    entry = _parse(raw)
    value = entry.get("sentAt") if entry else None
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _chunks(handle: Any, length: int) -> Generator[bytes, None, None]:
    """`length` bytes from the handle's position, in chunks."""
    while length > 0:
        chunk = handle.read(min(_READ_CHUNK, length))
        if not chunk:
            return
        length -= len(chunk)
        yield chunk


def _replace_with_rest(path: Path, handle: Any) -> None:
    """Write what is left from the handle's position to a new file and rename it over `path`."""
    temporary = path.with_name(path.name + ".pruning")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        while chunk := handle.read(_READ_CHUNK):
            os.write(fd, chunk)
    finally:
        os.close(fd)
    os.replace(temporary, path)


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

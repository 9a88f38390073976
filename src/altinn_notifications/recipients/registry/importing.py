"""Import of a registry file: rows read as a stream, validated, upserted in batches, in one transaction."""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from altinn_notifications.db.pool import Pool
from altinn_notifications.recipients import repository
from altinn_notifications.recipients.registry.csv_reader import csv_rows
from altinn_notifications.recipients.registry.json_reader import json_rows
from altinn_notifications.recipients.registry.model import (
    ByteSource,
    ParsedRow,
    RegistryFileError,
    RegistryFormat,
    RegistryRecord,
    dumps,
    format_for_path,
)
from altinn_notifications.recipients.repository import (
    RegistryExternalIdentity,
    RegistryOrganization,
    RegistryOrgUser,
    RegistryPerson,
)

DEFAULT_BATCH_SIZE = 1000
MAX_REPORTED_ERRORS = 1000


@dataclass(frozen=True)
class ImportProgress:
    bytes_read: int
    total_bytes: int | None
    rows: int


ProgressCallback = Callable[[ImportProgress], None]


@dataclass
class ImportSummary:
    """Counts of rows upserted per kind, rows skipped, and the first errors (path: reason)."""

    persons: int = 0
    organizations: int = 0
    users: int = 0
    external_identities: int = 0
    skipped: int = 0
    error_count: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def imported(self) -> int:
        return self.persons + self.organizations + self.users + self.external_identities

    def add_errors(self, errors: list[str], rows: int = 1) -> None:
        self.skipped += rows
        self.error_count += len(errors)
        room = MAX_REPORTED_ERRORS - len(self.errors)
        if room > 0:
            self.errors.extend(errors[:room])


class CountingReader(io.RawIOBase):
    """A binary source that counts the bytes read (for the progress bar)."""

    def __init__(self, source: ByteSource) -> None:
        self._source = source
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._source.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.count += n
        return n


def _rows(source: CountingReader, file_format: RegistryFormat) -> AbstractContextManager[Iterator[ParsedRow]]:
    if file_format is RegistryFormat.csv:
        return csv_rows(source)
    return nullcontext(json_rows(source))


class _Batches:
    """Pending rows per kind, flushed in batches (organisations before users)."""

    def __init__(self, conn: Any, summary: ImportSummary, batch_size: int) -> None:
        self._conn = conn
        self._summary = summary
        self._size = batch_size
        self.persons: list[RegistryPerson] = []
        self.organizations: list[RegistryOrganization] = []
        self.users: list[RegistryOrgUser] = []
        self.externals: list[RegistryExternalIdentity] = []

    def add(self, record: RegistryRecord, *, counted: bool = True) -> bool:
        """Queue a record; True when a batch is full."""
        if isinstance(record, RegistryPerson):
            self.persons.append(record)
            self._summary.persons += 1
        elif isinstance(record, RegistryOrganization):
            self.organizations.append(record)
            self._summary.organizations += int(counted)
        elif isinstance(record, RegistryOrgUser):
            self.users.append(record)
            self._summary.users += 1
        else:
            self.externals.append(record)
            self._summary.external_identities += 1
        return (
            max(len(self.persons), len(self.organizations), len(self.users), len(self.externals))
            >= self._size
        )

    async def flush(self) -> None:
        await repository.upsert_persons(self._conn, self.persons)
        await repository.upsert_organizations(self._conn, self.organizations)
        await repository.upsert_org_users(self._conn, self.users)
        await repository.upsert_external_identities(self._conn, self.externals)
        self.persons, self.organizations, self.users, self.externals = [], [], [], []


class _Progress:
    """Rows read so far, reported with the bytes read after each batch and at the end."""

    def __init__(
        self, source: CountingReader, total_bytes: int | None, callback: ProgressCallback | None
    ) -> None:
        self._source = source
        self._total = total_bytes
        self._callback = callback
        self.rows = 0

    def report(self) -> None:
        if self._callback is not None:
            self._callback(
                ImportProgress(bytes_read=self._source.count, total_bytes=self._total, rows=self.rows)
            )


async def _write_rows(
    conn: Any, rows: Iterator[ParsedRow], summary: ImportSummary, batch_size: int, progress: _Progress
) -> None:
    batches = _Batches(conn, summary, batch_size)
    for row in rows:
        progress.rows += 1
        if row.record is None:
            summary.add_errors(row.errors, row.rows)
        elif batches.add(row.record, counted=row.counted):
            await batches.flush()
            progress.report()
    await batches.flush()


async def import_registry(
    pool: Pool,
    source: ByteSource,
    *,
    file_format: RegistryFormat = RegistryFormat.json,
    replace: bool = False,
    batch_size: int = DEFAULT_BATCH_SIZE,
    total_bytes: int | None = None,
    progress: ProgressCallback | None = None,
) -> ImportSummary:
    """Validate and upsert a registry file read from `source` (bytes, UTF-8), in one transaction.

    `replace` empties the registry first. Counts in the summary are rows read and written (a key repeated
    in the file counts each time). Raises `RegistryFileError` when the file is not a registry file at all
    (nothing is imported then).
    """
    if batch_size < 1:
        raise ValueError("batch_size must be positive")
    counting = CountingReader(source)
    reporter = _Progress(counting, total_bytes, progress)
    summary = ImportSummary()
    try:
        with _rows(counting, file_format) as rows:
            async with pool.acquire() as conn, conn.transaction():
                if replace:
                    await repository.delete_all(conn)
                await _write_rows(conn, rows, summary, batch_size, reporter)
    except UnicodeDecodeError:
        raise RegistryFileError("the file is not UTF-8 text") from None
    reporter.report()
    return summary


async def import_registry_file(
    pool: Pool,
    path: Path,
    *,
    file_format: RegistryFormat | None = None,
    replace: bool = False,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: ProgressCallback | None = None,
) -> ImportSummary:
    """Import a file; its format is taken from the name (`.csv`) unless given."""
    chosen = file_format or format_for_path(path)
    with path.open("rb") as source:
        return await import_registry(
            pool,
            source,
            file_format=chosen,
            replace=replace,
            batch_size=batch_size,
            total_bytes=os.fstat(source.fileno()).st_size,
            progress=progress,
        )


async def import_registry_document(
    pool: Pool, document: dict[str, Any], *, replace: bool = False
) -> ImportSummary:
    """Import an in-memory registry document (seeding from code and tests)."""
    return await import_registry(pool, io.BytesIO(dumps(document).encode()), replace=replace)

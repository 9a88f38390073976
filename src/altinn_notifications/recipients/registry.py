"""Import and export of the local registry file.

JSON (mirrors the answers of Altinn Profile):

    {"persons": [{"nationalIdentityNumber", "name", "email", "mobileNumber", "isReserved", "lastVerified"}],
     "organizations": [{"organizationNumber", "name", "emails": [], "mobileNumbers": [],
                        "users": [{"userId", "nationalIdentityNumber", "email", "mobileNumber",
                                   "resources": ["urn:altinn:resource:..."]}]}],
     "externalIdentities": [{"externalIdentity", "email", "mobileNumber"}]}

CSV (persons only), header `nationalIdentityNumber,name,email,mobileNumber,isReserved,lastVerified`.

Import validates every row; an invalid row is reported (path and reason, never the value: no NIN,
address or name is ever printed) and skipped, valid rows are upserted (a row replaces the stored row
with the same key; rows not in the file are kept unless `replace`). The file is read as a stream and
written in batches, so memory stays bounded however many rows (or users of one organisation) it holds;
the whole import is one transaction. Export writes the same shapes, streaming from the database.
"""

from __future__ import annotations

import csv
import enum
import io
import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import IO, Any, BinaryIO, TextIO

from altinn_notifications.db.pool import Pool
from altinn_notifications.recipients import repository
from altinn_notifications.recipients.addresses import (
    is_national_identity_number,
    is_organization_number,
    is_valid_email,
    normalize_mobile_number,
)
from altinn_notifications.recipients.repository import (
    RegistryExternalIdentity,
    RegistryOrganization,
    RegistryOrgUser,
    RegistryPerson,
)

DEFAULT_BATCH_SIZE = 1000
MAX_REPORTED_ERRORS = 1000
CSV_COLUMNS = ("nationalIdentityNumber", "name", "email", "mobileNumber", "isReserved", "lastVerified")


class RegistryFormat(enum.StrEnum):
    json = "json"
    csv = "csv"


class RegistryFileError(Exception):
    """The file cannot be read as a registry file at all (malformed JSON, wrong CSV header)."""


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


@dataclass
class ExportSummary:
    persons: int = 0
    organizations: int = 0
    users: int = 0
    external_identities: int = 0


def format_for_path(path: Path | str | None, default: RegistryFormat = RegistryFormat.json) -> RegistryFormat:
    """`.csv` files are CSV; everything else is JSON."""
    if path is not None and str(path).lower().endswith(".csv"):
        return RegistryFormat.csv
    return default


# --- validation (one row at a time; messages name the path, never the value) ---


class _Row:
    """Collects the field errors of one row."""

    def __init__(self, path: str, data: Any) -> None:
        self.path = path
        self.errors: list[str] = []
        self.data: dict[str, Any] = data if isinstance(data, dict) else {}
        if not isinstance(data, dict):
            self.errors.append(f"{path}: must be an object")

    def error(self, name: str, message: str) -> None:
        self.errors.append(f"{self.path}.{name}: {message}")

    def optional_text(self, name: str) -> str | None:
        value = self.data.get(name)
        if value is None:
            return None
        if not isinstance(value, str):
            self.error(name, "must be a string")
            return None
        return value.strip() or None

    def nin(self, name: str, *, required: bool) -> str | None:
        value = self.data.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                self.error(name, "is required")
            return None
        if not isinstance(value, str) or not is_national_identity_number(value.strip()):
            self.error(name, "must be 11 digits")
            return None
        return value.strip()

    def organization_number(self, name: str) -> str | None:
        value = self.data.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            self.error(name, "is required")
            return None
        if not isinstance(value, str) or not is_organization_number(value.strip()):
            self.error(name, "must be 9 digits")
            return None
        return value.strip()

    def email(self, name: str) -> str | None:
        value = self.optional_text(name)
        if value is not None and not is_valid_email(value):
            self.error(name, "not a valid email address")
            return None
        return value

    def mobile(self, name: str) -> str | None:
        value = self.optional_text(name)
        if value is not None and normalize_mobile_number(value) is None:
            self.error(name, "not a valid mobile number")
            return None
        return value

    def boolean(self, name: str) -> bool:
        value = self.data.get(name)
        if value is None:
            return False
        if not isinstance(value, bool):
            self.error(name, "must be true or false")
            return False
        return value

    def timestamp(self, name: str) -> datetime | None:
        value = self.data.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        parsed = _parse_timestamp(value) if isinstance(value, str) else None
        if parsed is None:
            self.error(name, "must be an ISO 8601 date or date-time")
        return parsed

    def text_list(
        self, name: str, check: Callable[[str], bool] | None = None, message: str = ""
    ) -> list[str]:
        value = self.data.get(name)
        if value is None:
            return []
        if not isinstance(value, list):
            self.error(name, "must be a list")
            return []
        result: list[str] = []
        for index, item in enumerate(value):
            if not isinstance(item, str) or not item.strip():
                self.error(f"{name}[{index}]", "must be a non-empty string")
            elif check is not None and not check(item.strip()):
                self.error(f"{name}[{index}]", message)
            else:
                result.append(item.strip())
        return result

    def user_id(self, name: str) -> int | None:
        value = self.data.get(name)
        if value is None:
            self.error(name, "is required")
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0 or value >= 2**63:
            self.error(name, "must be a positive integer")
            return None
        return value


def _parse_timestamp(value: str) -> datetime | None:
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        try:
            parsed = datetime.combine(date.fromisoformat(text), time())
        except ValueError:
            return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


_EXTERNAL_IDENTITY_PREFIXES = (
    "urn:altinn:person:idporten-email:",
    "urn:altinn:party:username:",
    "urn:altinn:username:",
    "urn:altinn:person:legacy-selfidentified:",
)


def is_external_identity(value: str) -> bool:
    """The external identity URN formats the API accepts (spec 4.1.1)."""
    lowered = value.strip().lower()
    for prefix in _EXTERNAL_IDENTITY_PREFIXES:
        if lowered.startswith(prefix):
            rest = value.strip()[len(prefix) :]
            if prefix == _EXTERNAL_IDENTITY_PREFIXES[0]:
                return is_valid_email(rest)
            return rest.strip() != ""
    return False


def validate_person(data: Any, path: str) -> tuple[RegistryPerson | None, list[str]]:
    row = _Row(path, data)
    if row.errors:
        return None, row.errors
    nin = row.nin("nationalIdentityNumber", required=True)
    person = RegistryPerson(
        national_identity_number=nin or "",
        name=row.optional_text("name"),
        email=row.email("email"),
        mobile_number=row.mobile("mobileNumber"),
        is_reserved=row.boolean("isReserved"),
        last_verified=row.timestamp("lastVerified"),
    )
    return (None, row.errors) if row.errors else (person, [])


def validate_organization(data: Any, path: str) -> tuple[RegistryOrganization | None, list[str]]:
    """The organisation's own fields (its `users` are validated one by one)."""
    row = _Row(path, data)
    if row.errors:
        return None, row.errors
    number = row.organization_number("organizationNumber")
    organization = RegistryOrganization(
        organization_number=number or "",
        name=row.optional_text("name"),
        emails=row.text_list("emails", is_valid_email, "not a valid email address"),
        mobile_numbers=row.text_list(
            "mobileNumbers", lambda m: normalize_mobile_number(m) is not None, "not a valid mobile number"
        ),
    )
    return (None, row.errors) if row.errors else (organization, [])


def validate_user(data: Any, path: str, organization_number: str) -> tuple[RegistryOrgUser | None, list[str]]:
    row = _Row(path, data)
    if row.errors:
        return None, row.errors
    user_id = row.user_id("userId")
    user = RegistryOrgUser(
        organization_number=organization_number,
        user_id=user_id or 0,
        national_identity_number=row.nin("nationalIdentityNumber", required=False),
        email=row.email("email"),
        mobile_number=row.mobile("mobileNumber"),
        resources=row.text_list("resources"),
    )
    return (None, row.errors) if row.errors else (user, [])


def validate_external_identity(data: Any, path: str) -> tuple[RegistryExternalIdentity | None, list[str]]:
    row = _Row(path, data)
    if row.errors:
        return None, row.errors
    value = row.data.get("externalIdentity")
    identity: str | None = None
    if value is None or (isinstance(value, str) and not value.strip()):
        row.error("externalIdentity", "is required")
    elif not isinstance(value, str) or not is_external_identity(value):
        row.error("externalIdentity", "not a valid external identity URN")
    else:
        identity = value.strip()
    external = RegistryExternalIdentity(
        external_identity=identity or "", email=row.email("email"), mobile_number=row.mobile("mobileNumber")
    )
    return (None, row.errors) if row.errors else (external, [])


# --- parsed rows, produced lazily from a stream ---


@dataclass(frozen=True)
class _Parsed:
    """One parsed row: a valid record, or the errors of an invalid one."""

    record: RegistryPerson | RegistryOrganization | RegistryOrgUser | RegistryExternalIdentity | None
    errors: list[str]
    rows: int = 1  # rows skipped when invalid (an organisation's users go with it)
    counted: bool = True  # False for a second write of the same organisation (fields after `users`)


class _CountingReader(io.RawIOBase):
    """A binary source that counts the bytes read (for the progress bar)."""

    def __init__(self, source: IO[bytes]) -> None:
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


_WHITESPACE = re.compile(r"[ \t\n\r]*")
_NUMBER_TAIL = re.compile(r"[0-9.eE+-]*")


class _JsonStream:
    """A minimal pull parser: walks objects and arrays, decoding one leaf value (a row) at a time."""

    def __init__(self, text: TextIO, chunk_size: int = 1 << 16) -> None:
        self._text = text
        self._chunk = chunk_size
        self._buf = ""
        self._pos = 0
        self._consumed = 0
        self._eof = False
        self._decoder = json.JSONDecoder()

    def _more(self, at_least: int = 0) -> bool:
        if self._eof:
            return False
        data = self._text.read(max(self._chunk, at_least))
        if not data:
            self._eof = True
            return False
        self._consumed += self._pos
        self._buf = self._buf[self._pos :] + data
        self._pos = 0
        return True

    def _fail(self, message: str) -> RegistryFileError:
        return RegistryFileError(f"invalid JSON at character {self._consumed + self._pos}: {message}")

    def peek(self) -> str:
        """The next non-whitespace character ('' at the end), not consumed."""
        while True:
            match = _WHITESPACE.match(self._buf, self._pos)
            self._pos = match.end() if match else self._pos
            if self._pos < len(self._buf):
                return self._buf[self._pos]
            if not self._more():
                return ""

    def expect(self, char: str) -> None:
        if self.peek() != char:
            found = self.peek() or "end of file"
            raise self._fail(f"expected '{char}', found '{found}'")
        self._pos += 1

    def value(self) -> Any:
        if self.peek() == "":
            raise self._fail("unexpected end of file")
        while True:
            try:
                value, end = self._decoder.raw_decode(self._buf, self._pos)
            except json.JSONDecodeError as exc:
                if self._more(at_least=len(self._buf) - self._pos):
                    continue
                raise self._fail(exc.msg) from None
            # A value at the end of the buffer may continue in the next chunk (`1` of `1.5`, `1.` of `1.5`).
            truncated = end == len(self._buf) or (
                isinstance(value, int | float)
                and not isinstance(value, bool)
                and _NUMBER_TAIL.fullmatch(self._buf, end) is not None
            )
            if truncated and self._more(at_least=len(self._buf) - self._pos):
                continue
            self._pos = end
            return value

    def array(self) -> Iterator[int]:
        """Yield the index of each element; the caller consumes the element."""
        self.expect("[")
        if self.peek() == "]":
            self._pos += 1
            return
        index = 0
        while True:
            yield index
            index += 1
            char = self.peek()
            if char == ",":
                self._pos += 1
            elif char == "]":
                self._pos += 1
                return
            else:
                raise self._fail(f"expected ',' or ']', found '{char or 'end of file'}'")

    def object(self) -> Iterator[str]:
        """Yield each key; the caller consumes the value."""
        self.expect("{")
        if self.peek() == "}":
            self._pos += 1
            return
        while True:
            if self.peek() != '"':
                raise self._fail("expected a key")
            key = self.value()
            self.expect(":")
            yield key
            char = self.peek()
            if char == ",":
                self._pos += 1
            elif char == "}":
                self._pos += 1
                return
            else:
                raise self._fail(f"expected ',' or '}}', found '{char or 'end of file'}'")

    def end(self) -> None:
        if self.peek() != "":
            raise self._fail("unexpected content after the document")


def _parse_json(text: TextIO) -> Iterator[_Parsed]:
    stream = _JsonStream(text)
    if stream.peek() != "{":
        raise RegistryFileError(
            "a registry JSON file must be an object with persons, organizations, externalIdentities"
        )
    for key in stream.object():
        if key == "persons":
            yield from _parse_list(stream, "persons", validate_person)
        elif key == "externalIdentities":
            yield from _parse_list(stream, "externalIdentities", validate_external_identity)
        elif key == "organizations":
            if stream.peek() == "n":
                stream.value()  # null
                continue
            for index in stream.array():
                yield from _parse_organization(stream, f"organizations[{index}]")
        else:
            stream.value()  # unknown keys are ignored
    stream.end()


def _parse_list(
    stream: _JsonStream, name: str, validate: Callable[[Any, str], tuple[Any, list[str]]]
) -> Iterator[_Parsed]:
    if stream.peek() == "n":
        stream.value()  # null: nothing
        return
    if stream.peek() != "[":
        stream.value()
        yield _Parsed(None, [f"{name}: must be a list"])
        return
    for index in stream.array():
        record, errors = validate(stream.value(), f"{name}[{index}]")
        yield _Parsed(record, errors)


def _parse_organization(stream: _JsonStream, path: str) -> Iterator[_Parsed]:
    """One organisation; its users are streamed when its number is known before them (as exported),
    buffered otherwise. An organisation is written before its users (foreign key)."""
    if stream.peek() != "{":
        stream.value()
        yield _Parsed(None, [f"{path}: must be an object"])
        return
    fields: dict[str, Any] = {}
    buffered_users: list[Any] | None = None
    emitted: RegistryOrganization | None = None
    rejected = False
    for key in stream.object():
        if key != "users":
            fields[key] = stream.value()
            continue
        if stream.peek() == "n":
            stream.value()
            continue
        if stream.peek() != "[":
            stream.value()
            yield _Parsed(None, [f"{path}.users: must be a list"])
            continue
        if "organizationNumber" not in fields:
            buffered_users = [stream.value() for _ in stream.array()]
            continue
        organization, errors = validate_organization(fields, path)
        if organization is None:
            rejected = True
            skipped = 0
            for _ in stream.array():
                stream.value()  # users of an invalid organisation are skipped with it
                skipped += 1
            yield _rejected_organization(path, errors, skipped)
            continue
        emitted = organization
        yield _Parsed(organization, [])
        for index in stream.array():
            yield _parse_user(stream.value(), f"{path}.users[{index}]", organization.organization_number)
    if rejected:
        return
    organization, errors = validate_organization(fields, path)
    if organization is None:
        yield _rejected_organization(path, errors, len(buffered_users or []))
        return
    if organization != emitted:
        # Fields after `users`: the complete row replaces the one written before the users.
        yield _Parsed(organization, [], counted=emitted is None)
    for index, user in enumerate(buffered_users or []):
        yield _parse_user(user, f"{path}.users[{index}]", organization.organization_number)


def _rejected_organization(path: str, errors: list[str], users: int) -> _Parsed:
    if users:
        errors = [*errors, f"{path}.users: {users} skipped with the organization"]
    return _Parsed(None, errors, rows=1 + users)


def _parse_user(data: Any, path: str, organization_number: str) -> _Parsed:
    record, errors = validate_user(data, path, organization_number)
    return _Parsed(record, errors)


_TRUE = {"true", "1", "yes", "y"}
_FALSE = {"false", "0", "no", "n", ""}


def _parse_csv(text: TextIO) -> Iterator[_Parsed]:
    reader = csv.DictReader(text)
    header = [name.strip() for name in (reader.fieldnames or [])]
    if "nationalIdentityNumber" not in header:
        raise RegistryFileError("the CSV header must name the columns " + ",".join(CSV_COLUMNS))
    reader.fieldnames = header
    for raw in reader:
        path = f"line {reader.line_num}"
        data: dict[str, Any] = {
            k: (v if v is None else v.strip()) for k, v in raw.items() if k in CSV_COLUMNS
        }
        for key in ("name", "email", "mobileNumber", "lastVerified"):
            if data.get(key) == "":
                data[key] = None
        reserved = (data.get("isReserved") or "").lower()
        if reserved in _TRUE:
            data["isReserved"] = True
        elif reserved in _FALSE:
            data["isReserved"] = False
        else:
            yield _Parsed(None, [f"{path}.isReserved: must be true or false"])
            continue
        record, errors = validate_person(data, path)
        yield _Parsed(record, errors)


# --- import ---


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

    def add(
        self,
        record: RegistryPerson | RegistryOrganization | RegistryOrgUser | RegistryExternalIdentity,
        *,
        counted: bool = True,
    ) -> bool:
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


async def import_registry(
    pool: Pool,
    source: BinaryIO,
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
    counting = _CountingReader(source)
    text = io.TextIOWrapper(io.BufferedReader(counting), encoding="utf-8-sig", newline="")
    rows_in: Iterator[_Parsed] = _parse_csv(text) if file_format is RegistryFormat.csv else _parse_json(text)
    summary = ImportSummary()
    rows = 0

    def report() -> None:
        if progress is not None:
            progress(ImportProgress(bytes_read=counting.count, total_bytes=total_bytes, rows=rows))

    try:
        async with pool.acquire() as conn, conn.transaction():
            if replace:
                await repository.delete_all(conn)
            batches = _Batches(conn, summary, batch_size)
            for parsed in rows_in:
                rows += 1
                if parsed.record is None:
                    summary.add_errors(parsed.errors, parsed.rows)
                elif batches.add(parsed.record, counted=parsed.counted):
                    await batches.flush()
                    report()
            await batches.flush()
    except UnicodeDecodeError:
        raise RegistryFileError("the file is not UTF-8 text") from None
    finally:
        text.detach()
    report()
    return summary


def _open_for_reading(path: Path) -> tuple[BinaryIO, int]:
    source = path.open("rb")
    return source, os.fstat(source.fileno()).st_size


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
    source, size = _open_for_reading(path)
    try:
        return await import_registry(
            pool,
            source,
            file_format=chosen,
            replace=replace,
            batch_size=batch_size,
            total_bytes=size,
            progress=progress,
        )
    finally:
        source.close()


async def import_registry_document(
    pool: Pool, document: dict[str, Any], *, replace: bool = False
) -> ImportSummary:
    """Import an in-memory registry document (seeding from code and tests)."""
    data = json.dumps(document, ensure_ascii=False, default=_json_default).encode()
    return await import_registry(pool, io.BytesIO(data), replace=replace)


# --- export ---


def _json_default(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot encode {type(value).__name__}")


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=_json_default)


def person_document(person: RegistryPerson) -> dict[str, Any]:
    return {
        "nationalIdentityNumber": person.national_identity_number,
        "name": person.name,
        "email": person.email,
        "mobileNumber": person.mobile_number,
        "isReserved": person.is_reserved,
        "lastVerified": person.last_verified.isoformat() if person.last_verified else None,
    }


def _organization_head(organization: RegistryOrganization) -> dict[str, Any]:
    return {
        "organizationNumber": organization.organization_number,
        "name": organization.name,
        "emails": organization.emails,
        "mobileNumbers": organization.mobile_numbers,
    }


def _user_document(user: RegistryOrgUser) -> dict[str, Any]:
    return {
        "userId": user.user_id,
        "nationalIdentityNumber": user.national_identity_number,
        "email": user.email,
        "mobileNumber": user.mobile_number,
        "resources": user.resources,
    }


def _external_document(external: RegistryExternalIdentity) -> dict[str, Any]:
    return {
        "externalIdentity": external.external_identity,
        "email": external.email,
        "mobileNumber": external.mobile_number,
    }


async def export_registry(
    pool: Pool, out: TextIO, *, file_format: RegistryFormat = RegistryFormat.json
) -> ExportSummary:
    """Write the registry to `out` as JSON (everything) or CSV (persons), streaming."""
    summary = ExportSummary()
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        if file_format is RegistryFormat.csv:
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(CSV_COLUMNS)
            async for person in repository.iter_persons(conn):
                writer.writerow(
                    [
                        person.national_identity_number,
                        person.name or "",
                        person.email or "",
                        person.mobile_number or "",
                        "true" if person.is_reserved else "false",
                        person.last_verified.isoformat() if person.last_verified else "",
                    ]
                )
                summary.persons += 1
            return summary

        out.write('{\n  "persons": [')
        async for person in repository.iter_persons(conn):
            out.write(("," if summary.persons else "") + "\n    " + _dumps(person_document(person)))
            summary.persons += 1
        out.write('\n  ],\n  "organizations": [' if summary.persons else '],\n  "organizations": [')

        current: str | None = None
        users_in_current = 0
        async for organization, user in repository.iter_organizations_with_users(conn):
            if organization.organization_number != current:
                if current is not None:
                    out.write(("\n    " if users_in_current else "") + "]}")
                head = _dumps(_organization_head(organization))
                out.write(("," if summary.organizations else "") + "\n    " + head[:-1] + ', "users": [')
                current = organization.organization_number
                users_in_current = 0
                summary.organizations += 1
            if user is not None:
                out.write(("," if users_in_current else "") + "\n      " + _dumps(_user_document(user)))
                users_in_current += 1
                summary.users += 1
        if current is not None:
            out.write(("\n    " if users_in_current else "") + "]}")
        out.write(
            '\n  ],\n  "externalIdentities": [' if summary.organizations else '],\n  "externalIdentities": ['
        )

        async for external in repository.iter_external_identities(conn):
            out.write(
                ("," if summary.external_identities else "") + "\n    " + _dumps(_external_document(external))
            )
            summary.external_identities += 1
        out.write("\n  ]\n}\n" if summary.external_identities else "]\n}\n")
    return summary

"""What the registry readers, the import and the export share: formats, the file error, a parsed row."""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from altinn_notifications.recipients.repository import (
    RegistryExternalIdentity,
    RegistryOrganization,
    RegistryOrgUser,
    RegistryPerson,
)

CSV_COLUMNS = ("nationalIdentityNumber", "name", "email", "mobileNumber", "isReserved", "lastVerified")

RegistryRecord = RegistryPerson | RegistryOrganization | RegistryOrgUser | RegistryExternalIdentity


class ByteSource(Protocol):
    """What a registry file is read from: a binary file, stdin's buffer, a byte counter over either."""

    def read(self, size: int = -1, /) -> bytes: ...


class RegistryFormat(enum.StrEnum):
    json = "json"
    csv = "csv"


class RegistryFileError(Exception):
    """The file cannot be read as a registry file at all (malformed JSON, wrong CSV header)."""


def format_for_path(path: Path | str | None, default: RegistryFormat = RegistryFormat.json) -> RegistryFormat:
    """`.csv` files are CSV; everything else is JSON."""
    if path is not None and str(path).lower().endswith(".csv"):
        return RegistryFormat.csv
    return default


@dataclass(frozen=True)
class ParsedRow:
    """One parsed row: a valid record, or the errors of an invalid one."""

    record: RegistryRecord | None
    errors: list[str]
    rows: int = 1  # rows skipped when invalid (an organisation's users go with it)
    counted: bool = True  # False for a second write of the same organisation (fields after `users`)


def parsed(outcome: tuple[RegistryRecord | None, list[str]]) -> ParsedRow:
    """A validator's `(record, errors)` as a row."""
    record, errors = outcome
    return ParsedRow(record, errors)


def _json_default(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot encode {type(value).__name__}")


def dumps(value: Any) -> str:
    """JSON text as the registry file holds it: non-ASCII kept, date-times in ISO 8601."""
    return json.dumps(value, ensure_ascii=False, default=_json_default)

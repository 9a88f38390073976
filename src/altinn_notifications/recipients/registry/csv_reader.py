"""A registry CSV file (persons only) as a stream of rows."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from altinn_notifications.recipients.registry.entries import validate_person
from altinn_notifications.recipients.registry.model import CSV_COLUMNS, ParsedRow, RegistryFileError, parsed

_TRUE = {"true", "1", "yes", "y"}
_FALSE = {"false", "0", "no", "n", ""}
_OPTIONAL_TEXT = ("name", "email", "mobileNumber", "lastVerified")


@contextmanager
def csv_rows(source: io.RawIOBase) -> Iterator[Iterator[ParsedRow]]:
    """The rows of `source` read as UTF-8 text (a BOM allowed); `source` is left open."""
    text = io.TextIOWrapper(io.BufferedReader(source), encoding="utf-8-sig", newline="")
    try:
        yield _rows(text)
    finally:
        text.detach()


def _rows(text: TextIO) -> Iterator[ParsedRow]:
    reader = csv.DictReader(text)
    header = [name.strip() for name in (reader.fieldnames or [])]
    if "nationalIdentityNumber" not in header:
        raise RegistryFileError("the CSV header must name the columns " + ",".join(CSV_COLUMNS))
    reader.fieldnames = header
    for raw in reader:
        yield _row(raw, f"line {reader.line_num}")


def _row(raw: dict[str, str | None], path: str) -> ParsedRow:
    data: dict[str, Any] = {k: (v if v is None else v.strip()) for k, v in raw.items() if k in CSV_COLUMNS}
    for key in _OPTIONAL_TEXT:
        if data.get(key) == "":
            data[key] = None
    reserved = (data.get("isReserved") or "").lower()
    if reserved in _TRUE:
        data["isReserved"] = True
    elif reserved in _FALSE:
        data["isReserved"] = False
    else:
        return ParsedRow(None, [f"{path}.isReserved: must be true or false"])
    return parsed(validate_person(data, path))

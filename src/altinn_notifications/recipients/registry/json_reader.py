"""A registry JSON document as a stream of rows, parsed by ijson (see `json_cursor`).

The document's layout is walked event by event; each leaf row (a person, a user, an external identity)
is built on its own and validated, so memory stays bounded however many rows the file holds, even the
users of one organisation (unless they come before its number, see `_users`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from altinn_notifications.recipients.registry.entries import (
    validate_external_identity,
    validate_organization,
    validate_person,
    validate_user,
)
from altinn_notifications.recipients.registry.json_cursor import DEFAULT_BUFFER, JsonCursor
from altinn_notifications.recipients.registry.model import ByteSource, ParsedRow, RegistryFileError, parsed
from altinn_notifications.recipients.repository import RegistryOrganization

_NOT_AN_OBJECT = "a registry JSON file must be an object with persons, organizations, externalIdentities"


def json_rows(source: ByteSource, *, buf_size: int = DEFAULT_BUFFER) -> Iterator[ParsedRow]:
    """The rows of a registry document, in file order (an organisation before its users)."""
    cursor = JsonCursor(source, buf_size=buf_size)
    _expect_object(cursor)
    for key in cursor.object():
        if key == "persons":
            yield from _rows(cursor, "persons", validate_person)
        elif key == "externalIdentities":
            yield from _rows(cursor, "externalIdentities", validate_external_identity)
        elif key == "organizations":
            yield from _organizations(cursor)
        else:
            cursor.skip()  # unknown keys are ignored
    cursor.end()


def _expect_object(cursor: JsonCursor) -> None:
    """A document that does not even start as an object is not a registry file (rather than invalid)."""
    try:
        first = cursor.peek()
    except RegistryFileError:  # the first token is not JSON at all (or there is none)
        raise RegistryFileError(_NOT_AN_OBJECT) from None
    if first != "start_map":
        raise RegistryFileError(_NOT_AN_OBJECT)


def _rows(
    cursor: JsonCursor, name: str, validate: Callable[[Any, str], tuple[Any, list[str]]]
) -> Iterator[ParsedRow]:
    if cursor.peek() == "null":
        cursor.skip()  # null: nothing
        return
    if cursor.peek() != "start_array":
        cursor.skip()
        yield ParsedRow(None, [f"{name}: must be a list"])
        return
    for index, value in cursor.elements():
        yield parsed(validate(value, f"{name}[{index}]"))


def _organizations(cursor: JsonCursor) -> Iterator[ParsedRow]:
    if cursor.peek() == "null":
        cursor.skip()
        return
    for index in cursor.array():
        yield from _organization(cursor, f"organizations[{index}]")


@dataclass
class _Organization:
    """An organisation being read: its own fields so far, and what was written of it."""

    path: str
    fields: dict[str, Any]
    buffered_users: list[Any] | None = None
    emitted: RegistryOrganization | None = None
    rejected: bool = False


def _organization(cursor: JsonCursor, path: str) -> Iterator[ParsedRow]:
    """One organisation, written before its users (foreign key)."""
    if cursor.peek() != "start_map":
        cursor.skip()
        yield ParsedRow(None, [f"{path}: must be an object"])
        return
    organization = _Organization(path, {})
    for key in cursor.object():
        if key == "users":
            yield from _users(cursor, organization)
        else:
            organization.fields[key] = cursor.value()
    yield from _finish(organization)


def _users(cursor: JsonCursor, organization: _Organization) -> Iterator[ParsedRow]:
    """The users are streamed when the organisation's number is known before them (as exported),
    buffered otherwise."""
    path = organization.path
    if cursor.peek() == "null":
        cursor.skip()
        return
    if cursor.peek() != "start_array":
        cursor.skip()
        yield ParsedRow(None, [f"{path}.users: must be a list"])
        return
    if "organizationNumber" not in organization.fields:
        organization.buffered_users = [user for _, user in cursor.elements()]
        return
    valid, errors = validate_organization(organization.fields, path)
    if valid is None:
        organization.rejected = True
        yield _rejected_organization(path, errors, _skip_elements(cursor))
        return
    organization.emitted = valid
    yield ParsedRow(valid, [])
    for index, user in cursor.elements():
        yield _user(user, f"{path}.users[{index}]", valid.organization_number)


def _finish(organization: _Organization) -> Iterator[ParsedRow]:
    """After the organisation's last key: its row if not yet written as is, then any buffered users."""
    if organization.rejected:
        return
    path = organization.path
    users = organization.buffered_users or []
    valid, errors = validate_organization(organization.fields, path)
    if valid is None:
        yield _rejected_organization(path, errors, len(users))
        return
    if valid != organization.emitted:
        # Fields after `users`: the complete row replaces the one written before the users.
        yield ParsedRow(valid, [], counted=organization.emitted is None)
    for index, user in enumerate(users):
        yield _user(user, f"{path}.users[{index}]", valid.organization_number)


def _skip_elements(cursor: JsonCursor) -> int:
    """Skip an array (the users of an invalid organisation go with it); the number of elements."""
    skipped = 0
    for _ in cursor.array():
        cursor.skip()
        skipped += 1
    return skipped


def _rejected_organization(path: str, errors: list[str], users: int) -> ParsedRow:
    if users:
        errors = [*errors, f"{path}.users: {users} skipped with the organization"]
    return ParsedRow(None, errors, rows=1 + users)


def _user(data: Any, path: str, organization_number: str) -> ParsedRow:
    return parsed(validate_user(data, path, organization_number))

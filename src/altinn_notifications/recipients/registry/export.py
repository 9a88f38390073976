"""Export of the registry in the shapes the import reads, streamed from the database."""

from __future__ import annotations

import csv
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, TextIO

from altinn_notifications.db.pool import Pool
from altinn_notifications.recipients import repository
from altinn_notifications.recipients.registry.model import CSV_COLUMNS, RegistryFormat, dumps
from altinn_notifications.recipients.repository import (
    RegistryExternalIdentity,
    RegistryOrganization,
    RegistryOrgUser,
    RegistryPerson,
)


@dataclass
class ExportSummary:
    persons: int = 0
    organizations: int = 0
    users: int = 0
    external_identities: int = 0


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


def _csv_row(person: RegistryPerson) -> list[str]:
    return [
        person.national_identity_number,
        person.name or "",
        person.email or "",
        person.mobile_number or "",
        "true" if person.is_reserved else "false",
        person.last_verified.isoformat() if person.last_verified else "",
    ]


async def export_registry(
    pool: Pool, out: TextIO, *, file_format: RegistryFormat = RegistryFormat.json
) -> ExportSummary:
    """Write the registry to `out` as JSON (everything) or CSV (persons), streaming."""
    summary = ExportSummary()
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        if file_format is RegistryFormat.csv:
            await _write_csv(conn, out, summary)
        else:
            await _write_json(conn, out, summary)
    return summary


async def _write_csv(conn: Any, out: TextIO, summary: ExportSummary) -> None:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    async for person in repository.iter_persons(conn):
        writer.writerow(_csv_row(person))
        summary.persons += 1


def _close_list(items: int) -> str:
    """An empty list stays on its line (`[]`); a list with items closes on its own line."""
    return "\n  ]" if items else "]"


async def _write_json(conn: Any, out: TextIO, summary: ExportSummary) -> None:
    out.write('{\n  "persons": [')
    persons = (person_document(p) async for p in repository.iter_persons(conn))
    summary.persons = await _write_items(out, persons)
    out.write(_close_list(summary.persons) + ',\n  "organizations": [')
    await _write_organizations(conn, out, summary)
    out.write(_close_list(summary.organizations) + ',\n  "externalIdentities": [')
    externals = (_external_document(e) async for e in repository.iter_external_identities(conn))
    summary.external_identities = await _write_items(out, externals)
    out.write(_close_list(summary.external_identities) + "\n}\n")


async def _write_items(out: TextIO, documents: AsyncIterator[dict[str, Any]]) -> int:
    """One document a line, indented as elements of a top-level list; the number written."""
    written = 0
    async for document in documents:
        out.write(("," if written else "") + "\n    " + dumps(document))
        written += 1
    return written


async def _write_organizations(conn: Any, out: TextIO, summary: ExportSummary) -> None:
    """Each organisation with its users nested, from one ordered stream of (organisation, user) rows."""
    current: str | None = None
    users_in_current = 0
    async for organization, user in repository.iter_organizations_with_users(conn):
        if organization.organization_number != current:
            if current is not None:
                out.write(_close_users(users_in_current))
            head = dumps(_organization_head(organization))
            out.write(("," if summary.organizations else "") + "\n    " + head[:-1] + ', "users": [')
            current = organization.organization_number
            users_in_current = 0
            summary.organizations += 1
        if user is not None:
            out.write(("," if users_in_current else "") + "\n      " + dumps(_user_document(user)))
            users_in_current += 1
            summary.users += 1
    if current is not None:
        out.write(_close_users(users_in_current))


def _close_users(users: int) -> str:
    return ("\n    " if users else "") + "]}"

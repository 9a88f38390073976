"""All SQL of the local registry: the built-in stand-in for KRR/Profile (self-hosting, development, tests).

Lookups take lists and answer in one statement each (`= ANY($1)`). Bulk upserts send one batch as a
single JSON document expanded by `jsonb_to_recordset` (one round trip per batch, arrays included), with
`ON CONFLICT DO UPDATE`: a row in a batch replaces the stored row with the same key, all columns.
Exports stream through server-side cursors and must run inside a transaction.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from altinn_notifications.db.pool import Connection

STALE_AFTER = "18 months"  # KRR data not confirmed within this interval is stale (docs/compatibility.md C11)


@dataclass(frozen=True)
class RegistryPerson:
    national_identity_number: str
    name: str | None = None
    email: str | None = None
    mobile_number: str | None = None
    is_reserved: bool = False
    last_verified: datetime | None = None


@dataclass(frozen=True)
class RegistryOrganization:
    organization_number: str
    name: str | None = None
    emails: list[str] = field(default_factory=list)
    mobile_numbers: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RegistryOrgUser:
    organization_number: str
    user_id: int
    national_identity_number: str | None = None
    email: str | None = None
    mobile_number: str | None = None
    resources: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RegistryExternalIdentity:
    external_identity: str
    email: str | None = None
    mobile_number: str | None = None


# --- lookups ---


async def fetch_persons(
    conn: Connection, national_identity_numbers: Sequence[str], *, use_stale: bool, now: datetime
) -> list[Any]:
    """Rows (nationalidentitynumber, email, mobilenumber, isreserved) of the known persons.

    Email and mobile are NULL when the entry is stale (verified before `now - 18 months`) and stale data
    is not allowed. A NULL `lastverified` means the operator recorded no verification date: treated as
    current. The reservation flag is always reported.
    """
    return list(
        await conn.fetch(
            f"""
            SELECT nationalidentitynumber, isreserved,
                   CASE WHEN is_current THEN NULLIF(btrim(email), '') END AS email,
                   CASE WHEN is_current THEN NULLIF(btrim(mobilenumber), '') END AS mobilenumber
            FROM (
                SELECT p.*,
                       ($2::boolean OR p.lastverified IS NULL
                        OR p.lastverified >= $3::timestamptz - interval '{STALE_AFTER}') AS is_current
                FROM registry_persons p
                WHERE p.nationalidentitynumber = ANY($1::text[])
            ) AS persons
            ORDER BY nationalidentitynumber
            """,
            list(national_identity_numbers),
            use_stale,
            now,
        )
    )


async def fetch_organizations(conn: Connection, organization_numbers: Sequence[str]) -> list[Any]:
    """Rows (organizationnumber, emails, mobilenumbers) of the known organisations."""
    return list(
        await conn.fetch(
            """
            SELECT organizationnumber, emails, mobilenumbers
            FROM registry_organizations
            WHERE organizationnumber = ANY($1::text[])
            ORDER BY organizationnumber
            """,
            list(organization_numbers),
        )
    )


async def fetch_org_users_for_resource(
    conn: Connection, organization_numbers: Sequence[str], resource_id: str
) -> list[Any]:
    """Users of the organisations holding `resource_id` (bare id, compared case-insensitively, the
    `urn:altinn:resource:` prefix stripped from stored entries). `isreserved` comes from the person
    entry with the user's NIN, as Profile reports the user's KRR reservation."""
    return list(
        await conn.fetch(
            """
            SELECT u.organizationnumber, u.userid, u.nationalidentitynumber,
                   NULLIF(btrim(u.email), '') AS email, NULLIF(btrim(u.mobilenumber), '') AS mobilenumber,
                   COALESCE(p.isreserved, false) AS isreserved
            FROM registry_org_users u
            LEFT JOIN registry_persons p ON p.nationalidentitynumber = u.nationalidentitynumber
            WHERE u.organizationnumber = ANY($1::text[])
              AND EXISTS (
                  SELECT 1 FROM unnest(u.resources) AS r(resource)
                  WHERE lower(btrim(regexp_replace(btrim(r.resource), '^urn:altinn:resource:', '', 'i')))
                        = lower($2::text)
              )
            ORDER BY u.organizationnumber, u.userid
            """,
            list(organization_numbers),
            resource_id,
        )
    )


async def fetch_external_identities(conn: Connection, external_identities: Sequence[str]) -> list[Any]:
    """Rows (externalidentity, email, mobilenumber); identities are matched case-insensitively."""
    return list(
        await conn.fetch(
            """
            SELECT externalidentity, NULLIF(btrim(email), '') AS email,
                   NULLIF(btrim(mobilenumber), '') AS mobilenumber
            FROM registry_external_identities
            WHERE lower(externalidentity) = ANY($1::text[])
            ORDER BY externalidentity
            """,
            [identity.lower() for identity in external_identities],
        )
    )


async def fetch_party_names(
    conn: Connection, organization_numbers: Sequence[str], national_identity_numbers: Sequence[str]
) -> list[Any]:
    """Rows (key, name): organisation number or NIN with its non-blank name, in one statement."""
    return list(
        await conn.fetch(
            """
            SELECT organizationnumber AS key, name FROM registry_organizations
            WHERE organizationnumber = ANY($1::text[]) AND NULLIF(btrim(name), '') IS NOT NULL
            UNION ALL
            SELECT nationalidentitynumber AS key, name FROM registry_persons
            WHERE nationalidentitynumber = ANY($2::text[]) AND NULLIF(btrim(name), '') IS NOT NULL
            """,
            list(organization_numbers),
            list(national_identity_numbers),
        )
    )


# --- bulk upserts (one statement per batch) ---


def _document(rows: Sequence[dict[str, Any]]) -> str:
    return json.dumps(rows, ensure_ascii=False, default=_json_default)


def _json_default(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot encode {type(value).__name__}")


async def upsert_persons(conn: Connection, persons: Sequence[RegistryPerson]) -> int:
    unique = {p.national_identity_number: p for p in persons}  # last one wins within a batch
    if not unique:
        return 0
    rows = [
        {
            "nationalidentitynumber": p.national_identity_number,
            "name": p.name,
            "email": p.email,
            "mobilenumber": p.mobile_number,
            "isreserved": p.is_reserved,
            "lastverified": p.last_verified,
        }
        for p in unique.values()
    ]
    await conn.execute(
        """
        INSERT INTO registry_persons
            (nationalidentitynumber, name, email, mobilenumber, isreserved, lastverified)
        SELECT nationalidentitynumber, name, email, mobilenumber, COALESCE(isreserved, false), lastverified
        FROM jsonb_to_recordset($1::text::jsonb) AS x(
            nationalidentitynumber text, name text, email text, mobilenumber text,
            isreserved boolean, lastverified timestamptz)
        ON CONFLICT (nationalidentitynumber) DO UPDATE SET
            name = EXCLUDED.name,
            email = EXCLUDED.email,
            mobilenumber = EXCLUDED.mobilenumber,
            isreserved = EXCLUDED.isreserved,
            lastverified = EXCLUDED.lastverified
        """,
        _document(rows),
    )
    return len(rows)


async def upsert_organizations(conn: Connection, organizations: Sequence[RegistryOrganization]) -> int:
    unique = {o.organization_number: o for o in organizations}
    if not unique:
        return 0
    rows = [
        {
            "organizationnumber": o.organization_number,
            "name": o.name,
            "emails": list(o.emails),
            "mobilenumbers": list(o.mobile_numbers),
        }
        for o in unique.values()
    ]
    await conn.execute(
        """
        INSERT INTO registry_organizations (organizationnumber, name, emails, mobilenumbers)
        SELECT organizationnumber, name, COALESCE(emails, '{}'), COALESCE(mobilenumbers, '{}')
        FROM jsonb_to_recordset($1::text::jsonb) AS x(
            organizationnumber text, name text, emails text[], mobilenumbers text[])
        ON CONFLICT (organizationnumber) DO UPDATE SET
            name = EXCLUDED.name,
            emails = EXCLUDED.emails,
            mobilenumbers = EXCLUDED.mobilenumbers
        """,
        _document(rows),
    )
    return len(rows)


async def upsert_org_users(conn: Connection, users: Sequence[RegistryOrgUser]) -> int:
    """Upsert users; their organisations must exist (foreign key)."""
    unique = {(u.organization_number, u.user_id): u for u in users}
    if not unique:
        return 0
    rows = [
        {
            "organizationnumber": u.organization_number,
            "userid": u.user_id,
            "nationalidentitynumber": u.national_identity_number,
            "email": u.email,
            "mobilenumber": u.mobile_number,
            "resources": list(u.resources),
        }
        for u in unique.values()
    ]
    await conn.execute(
        """
        INSERT INTO registry_org_users
            (organizationnumber, userid, nationalidentitynumber, email, mobilenumber, resources)
        SELECT organizationnumber, userid, nationalidentitynumber, email, mobilenumber,
               COALESCE(resources, '{}')
        FROM jsonb_to_recordset($1::text::jsonb) AS x(
            organizationnumber text, userid bigint, nationalidentitynumber text, email text,
            mobilenumber text, resources text[])
        ON CONFLICT (organizationnumber, userid) DO UPDATE SET
            nationalidentitynumber = EXCLUDED.nationalidentitynumber,
            email = EXCLUDED.email,
            mobilenumber = EXCLUDED.mobilenumber,
            resources = EXCLUDED.resources
        """,
        _document(rows),
    )
    return len(rows)


async def upsert_external_identities(conn: Connection, identities: Sequence[RegistryExternalIdentity]) -> int:
    unique = {i.external_identity: i for i in identities}
    if not unique:
        return 0
    rows = [
        {"externalidentity": i.external_identity, "email": i.email, "mobilenumber": i.mobile_number}
        for i in unique.values()
    ]
    await conn.execute(
        """
        INSERT INTO registry_external_identities (externalidentity, email, mobilenumber)
        SELECT externalidentity, email, mobilenumber
        FROM jsonb_to_recordset($1::text::jsonb) AS x(externalidentity text, email text, mobilenumber text)
        ON CONFLICT (externalidentity) DO UPDATE SET
            email = EXCLUDED.email,
            mobilenumber = EXCLUDED.mobilenumber
        """,
        _document(rows),
    )
    return len(rows)


async def delete_all(conn: Connection) -> None:
    """Empty the registry (import with `--replace`); users go with their organisations."""
    await conn.execute(
        "DELETE FROM registry_org_users; DELETE FROM registry_organizations; "
        "DELETE FROM registry_persons; DELETE FROM registry_external_identities"
    )


async def count_entries(conn: Connection) -> dict[str, int]:
    row = await conn.fetchrow(
        """
        SELECT (SELECT count(*) FROM registry_persons) AS persons,
               (SELECT count(*) FROM registry_organizations) AS organizations,
               (SELECT count(*) FROM registry_org_users) AS users,
               (SELECT count(*) FROM registry_external_identities) AS external_identities
        """
    )
    return {key: int(row[key]) for key in ("persons", "organizations", "users", "external_identities")}


# --- streaming reads for export (call inside a transaction) ---

_PREFETCH = 1000


async def iter_persons(conn: Connection) -> AsyncIterator[RegistryPerson]:
    async for r in conn.cursor(
        "SELECT nationalidentitynumber, name, email, mobilenumber, isreserved, lastverified "
        "FROM registry_persons ORDER BY nationalidentitynumber",
        prefetch=_PREFETCH,
    ):
        yield RegistryPerson(
            national_identity_number=r["nationalidentitynumber"],
            name=r["name"],
            email=r["email"],
            mobile_number=r["mobilenumber"],
            is_reserved=r["isreserved"],
            last_verified=r["lastverified"],
        )


async def iter_organizations_with_users(
    conn: Connection,
) -> AsyncIterator[tuple[RegistryOrganization, RegistryOrgUser | None]]:
    """One item per (organisation, user), ordered by organisation then user id; `None` for an
    organisation without users. Consecutive items share the organisation (bounded memory)."""
    async for r in conn.cursor(
        """
        SELECT o.organizationnumber, o.name, o.emails, o.mobilenumbers,
               u.userid, u.nationalidentitynumber, u.email, u.mobilenumber, u.resources
        FROM registry_organizations o
        LEFT JOIN registry_org_users u ON u.organizationnumber = o.organizationnumber
        ORDER BY o.organizationnumber, u.userid
        """,
        prefetch=_PREFETCH,
    ):
        organization = RegistryOrganization(
            organization_number=r["organizationnumber"],
            name=r["name"],
            emails=list(r["emails"]),
            mobile_numbers=list(r["mobilenumbers"]),
        )
        user = None
        if r["userid"] is not None:
            user = RegistryOrgUser(
                organization_number=r["organizationnumber"],
                user_id=r["userid"],
                national_identity_number=r["nationalidentitynumber"],
                email=r["email"],
                mobile_number=r["mobilenumber"],
                resources=list(r["resources"]),
            )
        yield organization, user


async def iter_external_identities(conn: Connection) -> AsyncIterator[RegistryExternalIdentity]:
    async for r in conn.cursor(
        "SELECT externalidentity, email, mobilenumber FROM registry_external_identities "
        "ORDER BY externalidentity",
        prefetch=_PREFETCH,
    ):
        yield RegistryExternalIdentity(
            external_identity=r["externalidentity"], email=r["email"], mobile_number=r["mobilenumber"]
        )

"""The built-in local registry as a `ContactPointsPort`: the stand-in for KRR/Profile and, for
organisation users, for the Authorization PDP (a user "holds" a resource when it is in the user's list);
and as a `PartyNamesPort`, the stand-in for Register's name lookup.

Answers are returned as stored (numbers not normalised, addresses not validated): clean-up is the
lookup service's job, exactly as with answers from Altinn Profile.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from altinn_notifications.db.pool import Pool
from altinn_notifications.recipients import repository
from altinn_notifications.recipients.identifiers import sanitize_resource_id
from altinn_notifications.recipients.models import (
    ExternalIdentityContactPoints,
    OrganizationContactPoints,
    PersonContactPoints,
    UserContactPoints,
)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(v.strip() for v in values if v and v.strip()))


class LocalRegistryContactPoints:
    """`ContactPointsPort` and `PartyNamesPort` over the `registry_*` tables.

    Stale rule (docs/compatibility.md C11): a person whose `lastverified` is more than 18 months before now has
    email and mobile treated as absent unless `use_stale_contact_info`; the reservation flag is still
    reported. A NULL `lastverified` means "no verification date recorded" and counts as current: the
    local registry is operator-curated (seed files, test fixtures), and treating every undated entry as
    stale would silently make most hand-written registries unreachable.
    """

    def __init__(self, pool: Pool, *, clock: Callable[[], datetime] = _utcnow) -> None:
        self._pool = pool
        self._clock = clock

    async def person_contact_points(
        self, national_identity_numbers: list[str], *, use_stale_contact_info: bool
    ) -> list[PersonContactPoints]:
        nins = _unique(national_identity_numbers)
        if not nins:
            return []
        async with self._pool.acquire() as conn:
            rows = await repository.fetch_persons(
                conn, nins, use_stale=use_stale_contact_info, now=self._clock()
            )
        return [
            PersonContactPoints(
                national_identity_number=r["nationalidentitynumber"],
                email=r["email"],
                mobile_number=r["mobilenumber"],
                is_reserved=r["isreserved"],
            )
            for r in rows
        ]

    async def organization_contact_points(
        self, organization_numbers: list[str]
    ) -> list[OrganizationContactPoints]:
        orgs = _unique(organization_numbers)
        if not orgs:
            return []
        async with self._pool.acquire() as conn:
            rows = await repository.fetch_organizations(conn, orgs)
        return [
            OrganizationContactPoints(
                organization_number=r["organizationnumber"],
                emails=list(r["emails"]),
                mobile_numbers=list(r["mobilenumbers"]),
            )
            for r in rows
        ]

    async def organization_user_contact_points(
        self, organization_numbers: list[str], resource_id: str, *, action: str | None = None
    ) -> list[OrganizationContactPoints]:
        """Users whose `resources` hold `resource_id` (prefix-insensitive): the local PDP `Permit`.
        Only organisations with at least one such user are answered. The local registry records rights
        per resource, not per action: a user holding the resource is permitted every `action`."""
        orgs = _unique(organization_numbers)
        resource = sanitize_resource_id(resource_id)
        if not orgs or not resource:
            return []
        async with self._pool.acquire() as conn:
            rows = await repository.fetch_org_users_for_resource(conn, orgs, resource)
        users: dict[str, list[UserContactPoints]] = {}
        for r in rows:
            users.setdefault(r["organizationnumber"], []).append(
                UserContactPoints(
                    user_id=r["userid"],
                    national_identity_number=r["nationalidentitynumber"],
                    email=r["email"],
                    mobile_number=r["mobilenumber"],
                    is_reserved=r["isreserved"],
                )
            )
        return [
            OrganizationContactPoints(organization_number=org, user_contact_points=points)
            for org, points in users.items()
        ]

    async def external_identity_contact_points(
        self, external_identities: list[str]
    ) -> list[ExternalIdentityContactPoints]:
        identities = _unique(external_identities)
        if not identities:
            return []
        async with self._pool.acquire() as conn:
            rows = await repository.fetch_external_identities(conn, identities)
        return [
            ExternalIdentityContactPoints(
                external_identity=r["externalidentity"], email=r["email"], mobile_number=r["mobilenumber"]
            )
            for r in rows
        ]

    async def party_names(
        self, organization_numbers: list[str], national_identity_numbers: list[str]
    ) -> dict[str, str]:
        """Names keyed by organisation number / NIN as given; unknown parties and NULL names absent."""
        orgs = _unique(organization_numbers)
        nins = _unique(national_identity_numbers)
        if not orgs and not nins:
            return {}
        async with self._pool.acquire() as conn:
            rows = await repository.fetch_party_names(conn, orgs, nins)
        return {r["key"]: r["name"] for r in rows}

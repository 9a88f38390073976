"""One `ContactPointsPort` out of two sources: persons from one register (KRR, say), organisations,
their users and self-identified users from another (Altinn Profile or the local registry)."""

from __future__ import annotations

from typing import Protocol

from altinn_notifications.recipients.models import (
    ExternalIdentityContactPoints,
    OrganizationContactPoints,
    PersonContactPoints,
)
from altinn_notifications.recipients.ports import ContactPointsPort


class PersonContactPointsSource(Protocol):
    async def person_contact_points(
        self, national_identity_numbers: list[str], *, use_stale_contact_info: bool
    ) -> list[PersonContactPoints]: ...


class CombinedContactPoints:
    """`ContactPointsPort`: `persons` answers persons; `organizations` answers everything else."""

    def __init__(self, persons: PersonContactPointsSource, organizations: ContactPointsPort) -> None:
        self.persons = persons
        self.organizations = organizations

    async def person_contact_points(
        self, national_identity_numbers: list[str], *, use_stale_contact_info: bool
    ) -> list[PersonContactPoints]:
        return await self.persons.person_contact_points(
            national_identity_numbers, use_stale_contact_info=use_stale_contact_info
        )

    async def organization_contact_points(
        self, organization_numbers: list[str]
    ) -> list[OrganizationContactPoints]:
        return await self.organizations.organization_contact_points(organization_numbers)

    async def organization_user_contact_points(
        self, organization_numbers: list[str], resource_id: str, *, action: str | None = None
    ) -> list[OrganizationContactPoints]:
        return await self.organizations.organization_user_contact_points(
            organization_numbers, resource_id, action=action
        )

    async def external_identity_contact_points(
        self, external_identities: list[str]
    ) -> list[ExternalIdentityContactPoints]:
        return await self.organizations.external_identity_contact_points(external_identities)

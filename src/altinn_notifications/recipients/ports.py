"""Ports to the contact registers (KRR/Profile or the local registry), chosen in the composition root."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from altinn_notifications.recipients.models import (
    ExternalIdentityContactPoints,
    OrganizationContactPoints,
    PersonContactPoints,
)


class ContactPointsPort(Protocol):
    async def person_contact_points(
        self, national_identity_numbers: list[str], *, use_stale_contact_info: bool
    ) -> list[PersonContactPoints]:
        """KRR contact points; unknown persons are absent; stale data absent unless allowed."""
        ...

    async def organization_contact_points(
        self, organization_numbers: list[str]
    ) -> list[OrganizationContactPoints]:
        """Official notification addresses of organisations (no user contact points)."""
        ...

    async def organization_user_contact_points(
        self, organization_numbers: list[str], resource_id: str, *, action: str | None = None
    ) -> list[OrganizationContactPoints]:
        """User-registered contact points of the users authorised for the resource (resource id without
        the urn prefix) in each organisation. `action` is the order's `resourceAction` (None or blank:
        `read`); adapters that consult a PDP ask for that action."""
        ...

    async def external_identity_contact_points(
        self, external_identities: list[str]
    ) -> list[ExternalIdentityContactPoints]: ...


class PartyNamesPort(Protocol):
    async def party_names(
        self, organization_numbers: list[str], national_identity_numbers: list[str]
    ) -> dict[str, str]:
        """Names by organisation number or NIN (Register `parties/nameslookup`); unknown parties absent."""
        ...


class AuthorizationPort(Protocol):
    async def authorized_users(
        self, pairs: Sequence[tuple[int, int]], resource_id: str, action: str | None = None
    ) -> set[tuple[int, int]]:
        """The (user id, party id) pairs the PDP answers `Permit` for: may the user perform `action`
        (None or blank: `read`) on the resource (bare id, or `app_{org}_{app}`) owned by the party?"""
        ...


class AccessTokenPort(Protocol):
    async def access_token(self, scopes: Sequence[str]) -> str:
        """A bearer token granting `scopes` (a Maskinporten access token); failures are `DependencyError`."""
        ...

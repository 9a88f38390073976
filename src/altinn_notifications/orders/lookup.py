"""Looking an order's recipients up over a `ContactPointsPort` (docs/compatibility.md C4, C11). No SQL here.

The registration stage (`lookup_at_registration`) reports who cannot be reached, using official
organisation addresses only. The processing stage (`lookup_at_processing`) resolves every recipient of
an order to the addresses it is notified at, adding the user-registered contact points of organisations
when the order has a resource id. Both share `fetch_contact_points` and the pure rules of
`orders.recipient_selection` (who is looked up), `recipients.cleaning` (register answers cleaned, user
contact points merged) and `recipients.channels` (the addresses that apply on a channel).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from altinn_notifications.errors import DependencyError
from altinn_notifications.orders.models import NotificationOrder, Recipient
from altinn_notifications.orders.recipient_selection import RecipientKind, needs_lookup, recipient_kind
from altinn_notifications.recipients.channels import (
    ChannelAddresses,
    organization_addresses,
    person_addresses,
)
from altinn_notifications.recipients.cleaning import (
    clean_external_identity_contact_points,
    clean_organization_contact_points,
    clean_person_contact_points,
    merge_user_contact_points,
)
from altinn_notifications.recipients.identifiers import is_present, sanitize_resource_id
from altinn_notifications.recipients.models import (
    ExternalIdentityContactPoints,
    OrganizationContactPoints,
    PersonContactPoints,
    RecipientLookupResult,
    ResolvedRecipient,
)
from altinn_notifications.recipients.offload import off_loop_if_large
from altinn_notifications.recipients.ports import ContactPointsPort
from altinn_notifications.vocabulary import NotificationChannel, RecipientLookupStatus

__all__ = [
    "ContactPointsLookup",
    "UserAuthorizer",
    "fetch_contact_points",
    "lookup_at_processing",
    "lookup_at_registration",
    "needs_lookup",
]

# Authorises user contact points for a resource (PDP `Permit`), keeping only the permitted users.
UserAuthorizer = Callable[[list[OrganizationContactPoints], str], Awaitable[list[OrganizationContactPoints]]]


# --- fetching contact points for a list of recipients ---


@dataclass
class ContactPointsLookup:
    """Cleaned register answers for a set of recipients, keyed case-insensitively."""

    persons: dict[str, PersonContactPoints] = field(default_factory=dict)
    organizations: dict[str, OrganizationContactPoints] = field(default_factory=dict)
    external_identities: dict[str, ExternalIdentityContactPoints] = field(default_factory=dict)

    def person(self, national_identity_number: str) -> PersonContactPoints | None:
        return self.persons.get(national_identity_number.strip().lower())

    def organization(self, organization_number: str) -> OrganizationContactPoints | None:
        return self.organizations.get(organization_number.strip().lower())

    def external_identity(self, external_identity: str) -> ExternalIdentityContactPoints | None:
        return self.external_identities.get(external_identity.strip().lower())

    def is_reserved(self, recipient: Recipient) -> bool | None:
        """The KRR reservation flag of a person recipient found in the register, else None."""
        kind = recipient_kind(recipient)
        if kind is None or kind[0] is not RecipientKind.Person:
            return None
        found = self.person(kind[1])
        return None if found is None else found.is_reserved

    def addresses_for(self, recipient: Recipient, channel: NotificationChannel) -> ChannelAddresses:
        """Looked-up addresses of `recipient` on `channel` (none when unknown to the register)."""
        kind = recipient_kind(recipient)
        if kind is None:
            return ChannelAddresses()
        what, identifier = kind
        if what is RecipientKind.Person:
            person = self.person(identifier)
            return (
                ChannelAddresses()
                if person is None
                else person_addresses(channel, person.email, person.mobile_number)
            )
        if what is RecipientKind.Organization:
            organization = self.organization(identifier)
            return (
                ChannelAddresses() if organization is None else organization_addresses(channel, organization)
            )
        external = self.external_identity(identifier)
        return (
            ChannelAddresses()
            if external is None
            else person_addresses(channel, external.email, external.mobile_number)
        )


def _distinct(values: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    result: list[str] = []
    for value in values:
        key = value.lower()
        if key not in seen:
            seen.add(key)
            result.append(value)
    return result


async def fetch_contact_points(
    port: ContactPointsPort,
    recipients: Iterable[Recipient],
    *,
    use_stale_contact_info: bool = False,
    resource_id: str | None = None,
    resource_action: str | None = None,
    authorize_users: UserAuthorizer | None = None,
) -> ContactPointsLookup:
    """Look up persons, organisations and external identities in parallel, one batched call each.

    Organisations get their official addresses; with a `resource_id` (send time only) also the
    user-registered contact points for that resource and `resource_action` (the port answers only
    authorised users: the local registry by the users' resource lists, the Altinn adapter through the
    PDP), passed through `authorize_users` when given. Answers are cleaned.
    """
    nins: list[str] = []
    orgs: list[str] = []
    externals: list[str] = []
    for recipient in recipients:
        kind = recipient_kind(recipient)
        if kind is None:
            continue
        what, identifier = kind
        target = (
            nins
            if what is RecipientKind.Person
            else orgs
            if what is RecipientKind.Organization
            else externals
        )
        target.append(identifier)
    nins, orgs, externals = _distinct(nins), _distinct(orgs), _distinct(externals)
    resource = sanitize_resource_id(resource_id)

    async def persons() -> list[PersonContactPoints]:
        if not nins:
            return []
        return await port.person_contact_points(nins, use_stale_contact_info=use_stale_contact_info)

    async def organizations() -> list[OrganizationContactPoints]:
        if not orgs:
            return []
        if not resource:
            return await port.organization_contact_points(orgs)
        official, users = await asyncio.gather(
            port.organization_contact_points(orgs),
            port.organization_user_contact_points(orgs, resource, action=resource_action),
        )
        users = [entry for entry in users if entry.user_contact_points]
        if users and authorize_users is not None:
            users = await authorize_users(users, resource)
        return merge_user_contact_points(official, users)

    async def external_identities() -> list[ExternalIdentityContactPoints]:
        if not externals:
            return []
        return await port.external_identity_contact_points(externals)

    found_persons, found_orgs, found_externals = await asyncio.gather(
        persons(), organizations(), external_identities()
    )
    lookup = ContactPointsLookup()
    for person in found_persons:
        lookup.persons.setdefault(
            person.national_identity_number.strip().lower(), clean_person_contact_points(person)
        )
    for org in found_orgs:
        key = org.organization_number.strip().lower()
        if key not in lookup.organizations:
            lookup.organizations[key] = await off_loop_if_large(
                len(org.user_contact_points), clean_organization_contact_points, org
            )
    for external in found_externals:
        lookup.external_identities.setdefault(
            external.external_identity.strip().lower(), clean_external_identity_contact_points(external)
        )
    return lookup


# --- the registration stage (docs/compatibility.md C4) ---


async def lookup_at_registration(
    port: ContactPointsPort,
    channel: NotificationChannel,
    recipients: list[Recipient],
    *,
    use_stale_contact_info: bool = False,
    ignore_reservation: bool = False,
) -> RecipientLookupResult | None:
    """The `recipientLookup` of a create response; None when no recipient needed a lookup.

    Only recipients lacking an address for `channel` are looked up, against official organisation
    addresses only (no user contact points, no authorisation: #1298/#1347). `is_reserved` lists the NINs
    whose reservation flag is set, even when the order ignores reservation; `missing_contact` lists the
    identifiers without a contact point for the channel, reserved persons excluded. Status: `Success` when
    every looked-up recipient is reachable, `Failed` when none is, else `PartialSuccess`; a reserved
    person is unreachable unless `ignore_reservation` is set and it has a contact point. The recipients
    passed in are not modified (looked-up addresses are discarded; they are fetched again at send time).
    """
    needed = [r for r in recipients if needs_lookup(r, channel)]
    if not needed:
        return None

    lookup = await fetch_contact_points(port, needed, use_stale_contact_info=use_stale_contact_info)

    is_reserved: list[str] = []
    missing_contact: list[str] = []
    unreachable = 0
    for recipient in needed:
        kind = recipient_kind(recipient)
        addresses = lookup.addresses_for(recipient, channel)
        reserved = bool(lookup.is_reserved(recipient))
        if reserved:
            assert kind is not None
            is_reserved.append(kind[1])
            if not ignore_reservation or addresses.is_empty:
                unreachable += 1
        elif addresses.is_empty:
            unreachable += 1
            if kind is not None:
                missing_contact.append(kind[1])

    reserved_keys = {nin.lower() for nin in is_reserved}
    missing_contact = [m for m in _distinct(missing_contact) if m.lower() not in reserved_keys]

    if unreachable == 0:
        status = RecipientLookupStatus.Success
    elif unreachable == len(needed):
        status = RecipientLookupStatus.Failed
    else:
        status = RecipientLookupStatus.PartialSuccess
    return RecipientLookupResult(
        status=status, is_reserved=_distinct(is_reserved), missing_contact=missing_contact
    )


# --- the processing stage (docs/compatibility.md C10, C11) ---


def _given(value: str | None) -> tuple[str, ...]:
    return (value.strip(),) if value is not None and is_present(value) else ()


async def lookup_at_processing(
    port: ContactPointsPort, order: NotificationOrder, *, use_stale_contact_info: bool
) -> list[ResolvedRecipient]:
    """Every recipient of `order` (same order) with the addresses it is to be notified at.

    Recipients lacking an address for the order's channel (`needs_lookup`) are looked up: persons and
    external identities get the contact points that apply to the channel (the docs/compatibility.md C11 table);
    organisations their official addresses plus, when the order has a resource id, those of the users
    authorised for the resource and `resourceAction`, de-duplicated. Caller-supplied addresses are kept
    as given (validated at registration) and come first. `is_reserved` is the KRR flag of a looked-up
    person found in the register; otherwise the flag stored on the order's recipient (normally None;
    the reference keeps a v1 caller's `isReserved` the same way). Looked-up addresses are attached even
    to reserved persons: whether to use them (`ignoreReservation`) is the pipeline's decision.

    One batched port call per kind, in parallel. Any failure raises `DependencyError` (retry later).
    """
    channel = order.notification_channel
    needed = [r for r in order.recipients if needs_lookup(r, channel) and recipient_kind(r) is not None]
    try:
        lookup = await fetch_contact_points(
            port,
            needed,
            use_stale_contact_info=use_stale_contact_info,
            resource_id=order.resource_id,
            resource_action=order.resource_action,
        )
    except DependencyError:
        raise
    except Exception as exc:  # an adapter bug or an unexpected failure: still the retry path
        raise DependencyError(f"contact point lookup failed: {type(exc).__name__}") from exc

    resolved: list[ResolvedRecipient] = []
    for recipient in order.recipients:
        emails = list(_given(recipient.email_address))
        mobiles = list(_given(recipient.mobile_number))
        is_reserved = recipient.is_reserved
        if needs_lookup(recipient, channel):
            addresses = lookup.addresses_for(recipient, channel)
            emails += addresses.emails
            mobiles += addresses.mobile_numbers
            found = lookup.is_reserved(recipient)
            if found is not None:
                is_reserved = found
        resolved.append(
            ResolvedRecipient(
                national_identity_number=recipient.national_identity_number,
                organization_number=recipient.organization_number,
                external_identity=recipient.external_identity,
                emails=_distinct(emails),
                mobile_numbers=_distinct(mobiles),
                is_reserved=is_reserved,
            )
        )
    return resolved

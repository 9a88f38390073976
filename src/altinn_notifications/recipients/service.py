"""Recipient (contact point) lookup over a `ContactPointsPort` (spec 3.5, 10.5). No SQL here.

The registration stage (`lookup_at_registration`) reports who cannot be reached, using official
organisation addresses only. The processing stage (`lookup_at_processing`) resolves every recipient of
an order to the addresses it is notified at, adding the user-registered contact points of organisations
when the order has a resource id. Both share the pure helpers below (`needs_lookup`, the clean-up and the
by-channel rules, `fetch_contact_points`).
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from altinn_notifications.errors import DependencyError
from altinn_notifications.orders.models import (
    NotificationChannel,
    NotificationOrder,
    Recipient,
    RecipientLookupStatus,
)
from altinn_notifications.recipients.addresses import normalize_mobile_number
from altinn_notifications.recipients.models import (
    ExternalIdentityContactPoints,
    OrganizationContactPoints,
    PersonContactPoints,
    RecipientLookupResult,
    ResolvedRecipient,
    UserContactPoints,
)
from altinn_notifications.recipients.ports import ContactPointsPort

RESOURCE_PREFIX = "urn:altinn:resource:"
T = TypeVar("T")
#: Above this many items, CPU-heavy steps of one order run in a thread rather than on the event loop.
OFF_LOOP_AT = 2_000
# Their own thread (not the default executor, which also resolves host names for new connections): one
# is enough, the GIL lets only one of them run at a time anyway.
_LARGE_WORK = ThreadPoolExecutor(max_workers=1, thread_name_prefix="large-order")


async def off_loop_if_large(items: int, function: Callable[..., T], *args: Any) -> T:
    """`function(*args)`, on `items` items: inline when few, else in the large-order thread, so that
    seconds of CPU (validating 100,000 mobile numbers, say) never stall the worker's other loops."""
    if items < OFF_LOOP_AT:
        return function(*args)
    return await asyncio.get_running_loop().run_in_executor(_LARGE_WORK, function, *args)


# Authorises user contact points for a resource (PDP `Permit`), keeping only the permitted users.
UserAuthorizer = Callable[[list[OrganizationContactPoints], str], Awaitable[list[OrganizationContactPoints]]]


class RecipientKind(enum.StrEnum):
    Person = "Person"
    Organization = "Organization"
    ExternalIdentity = "ExternalIdentity"


# --- which recipients need a lookup ---


def _present(value: str | None) -> bool:
    return value is not None and value.strip() != ""


def has_email_address(recipient: Recipient) -> bool:
    return _present(recipient.email_address)


def has_mobile_number(recipient: Recipient) -> bool:
    return _present(recipient.mobile_number)


def needs_lookup(recipient: Recipient, channel: NotificationChannel) -> bool:
    """Spec 10.5: only recipients lacking an address of the needed type are looked up.

    `Email`: no email; `Sms`: no mobile; `EmailPreferred`/`SmsPreferred`/`EmailAndSms`: neither.
    """
    if channel is NotificationChannel.Email:
        return not has_email_address(recipient)
    if channel is NotificationChannel.Sms:
        return not has_mobile_number(recipient)
    return not has_email_address(recipient) and not has_mobile_number(recipient)


def recipient_kind(recipient: Recipient) -> tuple[RecipientKind, str] | None:
    """What to look the recipient up by: NIN, else organisation number, else external identity."""
    if _present(recipient.national_identity_number):
        assert recipient.national_identity_number is not None
        return RecipientKind.Person, recipient.national_identity_number.strip()
    if _present(recipient.organization_number):
        assert recipient.organization_number is not None
        return RecipientKind.Organization, recipient.organization_number.strip()
    if _present(recipient.external_identity):
        assert recipient.external_identity is not None
        return RecipientKind.ExternalIdentity, recipient.external_identity.strip()
    return None


def sanitize_resource_id(resource_id: str | None) -> str:
    """Trim and strip the `urn:altinn:resource:` prefix (what Profile and the PDP expect); '' if none."""
    value = (resource_id or "").strip()
    if value.lower().startswith(RESOURCE_PREFIX):
        value = value[len(RESOURCE_PREFIX) :].strip()
    return value


# --- clean-up of register answers (spec 6.2 normalisation, 10.5 clean-up) ---


def _clean_email(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None


def clean_person_contact_points(contact_points: PersonContactPoints) -> PersonContactPoints:
    """Blank email → absent; mobile normalised (`+47` for 8-digit 4x/9x, `00` → `+`), invalid → absent."""
    return replace(
        contact_points,
        email=_clean_email(contact_points.email),
        mobile_number=normalize_mobile_number(contact_points.mobile_number),
    )


def clean_external_identity_contact_points(
    contact_points: ExternalIdentityContactPoints,
) -> ExternalIdentityContactPoints:
    return replace(
        contact_points,
        email=_clean_email(contact_points.email),
        mobile_number=normalize_mobile_number(contact_points.mobile_number),
    )


def clean_organization_contact_points(contact_points: OrganizationContactPoints) -> OrganizationContactPoints:
    """Each address once per organisation (spec 10.5 "Clean-up of org contact points").

    Official lists: mobiles normalised, invalid dropped, case-insensitively distinct; emails non-blank and
    case-insensitively distinct. Users: an email or mobile already seen for an earlier user or present in
    the official lists is blanked (numbers normalised first); users left with neither are dropped. Unlike
    the reference, an invalid user mobile is blanked too (it could never be delivered).
    """
    mobiles: list[str] = []
    seen_mobiles: set[str] = set()
    for raw in contact_points.mobile_numbers:
        number = normalize_mobile_number(raw)
        if number is not None and number.lower() not in seen_mobiles:
            seen_mobiles.add(number.lower())
            mobiles.append(number)

    emails: list[str] = []
    seen_emails: set[str] = set()
    for raw in contact_points.emails:
        email = _clean_email(raw)
        if email is not None and email.lower() not in seen_emails:
            seen_emails.add(email.lower())
            emails.append(email)

    official_emails = set(seen_emails)
    official_mobiles = set(seen_mobiles)
    user_emails: set[str] = set()
    user_mobiles: set[str] = set()
    users: list[UserContactPoints] = []
    for user in contact_points.user_contact_points:
        email = _clean_email(user.email)
        if email is not None:
            key = email.lower()
            if key in user_emails or key in official_emails:
                email = None
            user_emails.add(key)
        number = normalize_mobile_number(user.mobile_number)
        if number is not None:
            key = number.lower()
            if key in user_mobiles or key in official_mobiles:
                number = None
            user_mobiles.add(key)
        if email is not None or number is not None:
            users.append(replace(user, email=email, mobile_number=number))

    return replace(contact_points, emails=emails, mobile_numbers=mobiles, user_contact_points=users)


def merge_user_contact_points(
    official: Iterable[OrganizationContactPoints], users: Iterable[OrganizationContactPoints]
) -> list[OrganizationContactPoints]:
    """Add (authorised) user contact points to the official entries, matching org numbers
    case-insensitively; an organisation known only through its users gets an entry of its own."""
    merged: dict[str, OrganizationContactPoints] = {}
    for entry in official:
        key = entry.organization_number.strip().lower()
        if key in merged:
            existing = merged[key]
            merged[key] = replace(
                existing, user_contact_points=[*existing.user_contact_points, *entry.user_contact_points]
            )
        else:
            merged[key] = entry
    for entry in users:
        key = entry.organization_number.strip().lower()
        if key in merged:
            existing = merged[key]
            merged[key] = replace(
                existing, user_contact_points=[*existing.user_contact_points, *entry.user_contact_points]
            )
        else:
            merged[key] = entry
    return list(merged.values())


# --- applying contact points by channel (spec 10.5 table) ---


@dataclass(frozen=True)
class ChannelAddresses:
    """The addresses a recipient is notified at on a channel (emails and SMS numbers)."""

    emails: tuple[str, ...] = ()
    mobile_numbers: tuple[str, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not self.emails and not self.mobile_numbers


def _one(value: str | None) -> tuple[str, ...]:
    return (value,) if value is not None and _present(value) else ()


def person_addresses(
    channel: NotificationChannel, email: str | None, mobile_number: str | None
) -> ChannelAddresses:
    """Addresses of a person or an external identity on `channel` (pass cleaned contact points)."""
    if channel is NotificationChannel.Email:
        return ChannelAddresses(emails=_one(email))
    if channel is NotificationChannel.Sms:
        return ChannelAddresses(mobile_numbers=_one(mobile_number))
    if channel is NotificationChannel.EmailAndSms:
        return ChannelAddresses(emails=_one(email), mobile_numbers=_one(mobile_number))
    if channel is NotificationChannel.EmailPreferred:
        if _present(email):
            return ChannelAddresses(emails=_one(email))
        return ChannelAddresses(mobile_numbers=_one(mobile_number))
    # SmsPreferred
    if _present(mobile_number):
        return ChannelAddresses(mobile_numbers=_one(mobile_number))
    return ChannelAddresses(emails=_one(email))


def organization_addresses(
    channel: NotificationChannel, contact_points: OrganizationContactPoints
) -> ChannelAddresses:
    """Addresses of an organisation on `channel` (pass cleaned contact points): official addresses
    plus those of the (authorised) users, per the spec 10.5 table."""
    official_emails = [e for e in contact_points.emails if _present(e)]
    official_mobiles = [m for m in contact_points.mobile_numbers if _present(m)]
    users = contact_points.user_contact_points
    emails: list[str] = []
    mobiles: list[str] = []
    if channel in (NotificationChannel.Email, NotificationChannel.EmailAndSms):
        emails += official_emails
        emails += [u.email for u in users if u.email is not None and _present(u.email)]
    if channel in (NotificationChannel.Sms, NotificationChannel.EmailAndSms):
        mobiles += official_mobiles
        mobiles += [
            u.mobile_number for u in users if u.mobile_number is not None and _present(u.mobile_number)
        ]
    if channel in (NotificationChannel.EmailPreferred, NotificationChannel.SmsPreferred):
        prefer_email = channel is NotificationChannel.EmailPreferred
        if prefer_email:
            if official_emails:
                emails += official_emails
            else:
                mobiles += official_mobiles
        elif official_mobiles:
            mobiles += official_mobiles
        else:
            emails += official_emails
        for user in users:
            chosen = person_addresses(channel, user.email, user.mobile_number)
            emails += chosen.emails
            mobiles += chosen.mobile_numbers
    return ChannelAddresses(emails=tuple(emails), mobile_numbers=tuple(mobiles))


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


# --- the registration stage (spec 3.5) ---


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


# --- the processing stage (spec 10.5, 10.6) ---


def _given(value: str | None) -> tuple[str, ...]:
    return (value.strip(),) if value is not None and _present(value) else ()


async def lookup_at_processing(
    port: ContactPointsPort, order: NotificationOrder, *, use_stale_contact_info: bool
) -> list[ResolvedRecipient]:
    """Every recipient of `order` (same order) with the addresses it is to be notified at.

    Recipients lacking an address for the order's channel (`needs_lookup`) are looked up: persons and
    external identities get the contact points that apply to the channel (spec 10.5 table);
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

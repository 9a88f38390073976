"""Registration-time recipient lookup (docs/compatibility.md C4, C11) over the local registry on real PostgreSQL,
and the pure by-channel rules shared with the send-time pipeline."""

from __future__ import annotations

from typing import Any

import pytest

from altinn_notifications.bootstrap import Container
from altinn_notifications.orders.lookup import fetch_contact_points, lookup_at_registration
from altinn_notifications.orders.models import NotificationChannel, Recipient, RecipientLookupStatus
from altinn_notifications.orders.recipient_selection import needs_lookup
from altinn_notifications.recipients import repository
from altinn_notifications.recipients.channels import (
    ChannelAddresses,
    organization_addresses,
    person_addresses,
)
from altinn_notifications.recipients.cleaning import clean_organization_contact_points
from altinn_notifications.recipients.identifiers import sanitize_resource_id
from altinn_notifications.recipients.local import LocalRegistryContactPoints
from altinn_notifications.recipients.models import (
    ExternalIdentityContactPoints,
    OrganizationContactPoints,
    PersonContactPoints,
    RecipientLookupResult,
    UserContactPoints,
)
from altinn_notifications.recipients.registry import import_registry_document

Ch = NotificationChannel
Status = RecipientLookupStatus

# Persons
P_BOTH = "01010000001"  # email + 8-digit mobile
P_EMAIL = "01010000002"  # email only
P_MOBILE = "01010000003"  # mobile only
P_NONE = "01010000004"  # known, no contact points
P_RESERVED = "01010000005"  # reserved, with email and mobile
P_RESERVED_NONE = "01010000006"  # reserved, no contact points
P_STALE = "01010000007"  # contact points verified long ago
P_BAD_MOBILE = "01010000008"  # invalid mobile only (stored directly, bypassing import validation)
P_UNKNOWN = "09090000000"
# Organisations
O_BOTH = "910000001"
O_EMAIL = "910000002"
O_MOBILE = "910000003"
O_NONE = "910000004"  # no official addresses, but a user holding the resource
O_BAD_MOBILE = "910000005"  # only invalid official mobiles
O_UNKNOWN = "990000000"
# External identities
X_EMAIL = "urn:altinn:person:idporten-email:ola@example.no"
X_MOBILE = "urn:altinn:party:username:kari"
X_UNKNOWN = "urn:altinn:party:username:nobody"

REGISTRY: dict[str, Any] = {
    "persons": [
        {"nationalIdentityNumber": P_BOTH, "email": "both@example.no", "mobileNumber": "98765432"},
        {"nationalIdentityNumber": P_EMAIL, "email": "email@example.no"},
        {"nationalIdentityNumber": P_MOBILE, "mobileNumber": "004741234567"},
        {"nationalIdentityNumber": P_NONE},
        {
            "nationalIdentityNumber": P_RESERVED,
            "email": "reserved@example.no",
            "mobileNumber": "+4799999999",
            "isReserved": True,
        },
        {"nationalIdentityNumber": P_RESERVED_NONE, "isReserved": True},
        {
            "nationalIdentityNumber": P_STALE,
            "email": "stale@example.no",
            "lastVerified": "2020-01-01T00:00:00Z",
        },
    ],
    "organizations": [
        {"organizationNumber": O_BOTH, "emails": ["post@both.no"], "mobileNumbers": ["+4740000001"]},
        {"organizationNumber": O_EMAIL, "emails": ["post@email.no"]},
        {"organizationNumber": O_MOBILE, "mobileNumbers": ["40000003"]},
        {
            "organizationNumber": O_NONE,
            "users": [
                {
                    "userId": 1,
                    "email": "user@none.no",
                    "mobileNumber": "+4741111111",
                    "resources": ["ttd_example"],
                }
            ],
        },
    ],
    "externalIdentities": [
        {"externalIdentity": X_EMAIL, "email": "ola@example.no"},
        {"externalIdentity": X_MOBILE, "mobileNumber": "91234567"},
    ],
}


@pytest.fixture
async def port(container: Container) -> LocalRegistryContactPoints:
    summary = await import_registry_document(container.pool, REGISTRY)
    assert summary.errors == []
    async with container.pool.acquire() as conn:
        # Register data the import would reject: lookups must survive it (docs/compatibility.md C5: invalid → dropped).
        await repository.upsert_persons(
            conn, [repository.RegistryPerson(national_identity_number=P_BAD_MOBILE, mobile_number="12345")]
        )
        await repository.upsert_organizations(
            conn,
            [
                repository.RegistryOrganization(
                    organization_number=O_BAD_MOBILE, mobile_numbers=["0000", "+47123"]
                )
            ],
        )
    return LocalRegistryContactPoints(container.pool)


def person(nin: str, **kw: Any) -> Recipient:
    return Recipient(national_identity_number=nin, **kw)


def org(number: str, **kw: Any) -> Recipient:
    return Recipient(organization_number=number, **kw)


def external(identity: str) -> Recipient:
    return Recipient(external_identity=identity)


def success() -> RecipientLookupResult:
    return RecipientLookupResult(status=Status.Success)


def missing(*identifiers: str, status: Status = Status.Failed) -> RecipientLookupResult:
    return RecipientLookupResult(status=status, missing_contact=list(identifiers))


# --- which recipients need a lookup ---


@pytest.mark.parametrize(
    ("channel", "email", "mobile", "expected"),
    [
        (Ch.Email, None, None, True),
        (Ch.Email, None, "+4799999999", True),
        (Ch.Email, "a@b.no", None, False),
        (Ch.Email, "  ", None, True),
        (Ch.Sms, None, None, True),
        (Ch.Sms, "a@b.no", None, True),
        (Ch.Sms, None, "+4799999999", False),
        (Ch.EmailPreferred, None, None, True),
        (Ch.EmailPreferred, None, "+4799999999", False),
        (Ch.EmailPreferred, "a@b.no", None, False),
        (Ch.SmsPreferred, None, None, True),
        (Ch.SmsPreferred, "a@b.no", None, False),
        (Ch.EmailAndSms, None, None, True),
        (Ch.EmailAndSms, "a@b.no", None, False),
        (Ch.EmailAndSms, None, "+4799999999", False),
    ],
)
def test_needs_lookup(channel: Ch, email: str | None, mobile: str | None, expected: bool) -> None:
    assert needs_lookup(Recipient(email_address=email, mobile_number=mobile), channel) is expected
    assert (
        needs_lookup(
            Recipient(email_address=email, mobile_number=mobile, organization_number=O_BOTH), channel
        )
        is expected
    )


@pytest.mark.parametrize(
    ("channel", "recipients"),
    [
        (
            Ch.Email,
            [
                Recipient(email_address="a@b.no"),
                Recipient(email_address="c@d.no", national_identity_number=P_NONE),
            ],
        ),
        (Ch.Sms, [Recipient(mobile_number="+4799999999")]),
        (Ch.EmailPreferred, [Recipient(mobile_number="+4799999999")]),
        (Ch.SmsPreferred, [Recipient(email_address="a@b.no")]),
        (Ch.EmailAndSms, [Recipient(email_address="a@b.no"), Recipient(mobile_number="+4799999999")]),
        (Ch.Email, []),
    ],
)
async def test_none_when_no_recipient_needs_a_lookup(
    port: LocalRegistryContactPoints, channel: Ch, recipients: list[Recipient]
) -> None:
    assert await lookup_at_registration(port, channel, recipients) is None


# --- every channel × person / organisation / external identity ---

CASES: list[tuple[Ch, Recipient, bool]] = [
    # Email: only an email counts
    (Ch.Email, person(P_BOTH), True),
    (Ch.Email, person(P_EMAIL), True),
    (Ch.Email, person(P_MOBILE), False),
    (Ch.Email, person(P_NONE), False),
    (Ch.Email, person(P_UNKNOWN), False),
    (Ch.Email, org(O_BOTH), True),
    (Ch.Email, org(O_EMAIL), True),
    (Ch.Email, org(O_MOBILE), False),
    (Ch.Email, org(O_NONE), False),  # user contact points are not used at registration
    (Ch.Email, org(O_UNKNOWN), False),
    (Ch.Email, external(X_EMAIL), True),
    (Ch.Email, external(X_MOBILE), False),
    (Ch.Email, external(X_UNKNOWN), False),
    (Ch.Email, person(P_EMAIL, mobile_number="+4799999999"), True),  # has mobile, needs email
    # Sms: only a (valid) mobile counts
    (Ch.Sms, person(P_BOTH), True),  # 8-digit number, normalised to +47
    (Ch.Sms, person(P_EMAIL), False),
    (Ch.Sms, person(P_MOBILE), True),  # 0047… normalised to +47
    (Ch.Sms, person(P_BAD_MOBILE), False),  # invalid number dropped
    (Ch.Sms, org(O_BOTH), True),
    (Ch.Sms, org(O_EMAIL), False),
    (Ch.Sms, org(O_MOBILE), True),  # 8-digit official number normalised
    (Ch.Sms, org(O_BAD_MOBILE), False),  # only invalid numbers
    (Ch.Sms, org(O_NONE), False),
    (Ch.Sms, external(X_MOBILE), True),  # 8-digit number normalised
    (Ch.Sms, external(X_EMAIL), False),
    (Ch.Sms, person(P_MOBILE, email_address="a@b.no"), True),
    # EmailPreferred / SmsPreferred / EmailAndSms: either counts
    (Ch.EmailPreferred, person(P_EMAIL), True),
    (Ch.EmailPreferred, person(P_MOBILE), True),
    (Ch.EmailPreferred, person(P_BAD_MOBILE), False),
    (Ch.EmailPreferred, person(P_NONE), False),
    (Ch.EmailPreferred, org(O_MOBILE), True),
    (Ch.EmailPreferred, org(O_NONE), False),
    (Ch.EmailPreferred, external(X_MOBILE), True),
    (Ch.EmailPreferred, external(X_UNKNOWN), False),
    (Ch.SmsPreferred, person(P_EMAIL), True),
    (Ch.SmsPreferred, person(P_MOBILE), True),
    (Ch.SmsPreferred, person(P_NONE), False),
    (Ch.SmsPreferred, org(O_EMAIL), True),
    (Ch.SmsPreferred, org(O_BAD_MOBILE), False),
    (Ch.SmsPreferred, external(X_EMAIL), True),
    (Ch.EmailAndSms, person(P_EMAIL), True),
    (Ch.EmailAndSms, person(P_MOBILE), True),
    (Ch.EmailAndSms, person(P_NONE), False),
    (Ch.EmailAndSms, org(O_EMAIL), True),
    (Ch.EmailAndSms, org(O_UNKNOWN), False),
    (Ch.EmailAndSms, external(X_EMAIL), True),
    (Ch.EmailAndSms, external(X_UNKNOWN), False),
]


@pytest.mark.parametrize(("channel", "recipient", "reachable"), CASES)
async def test_single_recipient_by_channel(
    port: LocalRegistryContactPoints, channel: Ch, recipient: Recipient, reachable: bool
) -> None:
    result = await lookup_at_registration(port, channel, [recipient])

    identifier = (
        recipient.national_identity_number or recipient.organization_number or recipient.external_identity
    )
    assert identifier is not None
    assert result == (success() if reachable else missing(identifier))


# --- reservation ---


@pytest.mark.parametrize("channel", list(Ch))
async def test_reserved_person_is_listed_not_missing(port: LocalRegistryContactPoints, channel: Ch) -> None:
    result = await lookup_at_registration(port, channel, [person(P_RESERVED), person(P_RESERVED_NONE)])
    assert result == RecipientLookupResult(
        status=Status.Failed, is_reserved=[P_RESERVED, P_RESERVED_NONE], missing_contact=[]
    )


async def test_reserved_with_ignore_reservation_is_reported_but_reachable(
    port: LocalRegistryContactPoints,
) -> None:
    result = await lookup_at_registration(
        port, Ch.Email, [person(P_RESERVED), person(P_RESERVED_NONE)], ignore_reservation=True
    )
    # The flag is reported either way; only the one with an address is reachable.
    assert result == RecipientLookupResult(
        status=Status.PartialSuccess, is_reserved=[P_RESERVED, P_RESERVED_NONE], missing_contact=[]
    )
    result = await lookup_at_registration(port, Ch.Email, [person(P_RESERVED)], ignore_reservation=True)
    assert result == RecipientLookupResult(status=Status.Success, is_reserved=[P_RESERVED])


# --- status over several recipients ---


async def test_partial_success_mixed_recipients(port: LocalRegistryContactPoints) -> None:
    recipients = [
        person(P_EMAIL),
        person(P_MOBILE),
        person(P_RESERVED),
        org(O_BOTH),
        org(O_MOBILE),
        external(X_EMAIL),
        external(X_UNKNOWN),
        Recipient(email_address="direct@example.no"),  # has an address: not looked up, not counted
        person(P_UNKNOWN, email_address="given@example.no"),  # likewise
    ]
    result = await lookup_at_registration(port, Ch.Email, recipients)
    assert result == RecipientLookupResult(
        status=Status.PartialSuccess,
        is_reserved=[P_RESERVED],
        missing_contact=[P_MOBILE, O_MOBILE, X_UNKNOWN],
    )


async def test_failed_counts_only_looked_up_recipients(port: LocalRegistryContactPoints) -> None:
    recipients = [Recipient(email_address="direct@example.no"), person(P_NONE), org(O_UNKNOWN)]
    assert await lookup_at_registration(port, Ch.Email, recipients) == missing(P_NONE, O_UNKNOWN)


async def test_success_over_all_kinds(port: LocalRegistryContactPoints) -> None:
    recipients = [person(P_BOTH), org(O_BOTH), external(X_EMAIL), Recipient(mobile_number="+4799999999")]
    assert await lookup_at_registration(port, Ch.SmsPreferred, recipients) == success()


async def test_duplicates_are_listed_once_and_counted_per_recipient(port: LocalRegistryContactPoints) -> None:
    recipients = [person(P_NONE), person(P_NONE), person(P_RESERVED), person(P_RESERVED), person(P_EMAIL)]
    result = await lookup_at_registration(port, Ch.Email, recipients)
    assert result == RecipientLookupResult(
        status=Status.PartialSuccess, is_reserved=[P_RESERVED], missing_contact=[P_NONE]
    )


async def test_recipient_without_identifier_is_unreachable_but_not_listed(
    port: LocalRegistryContactPoints,
) -> None:
    # A recipient with only a mobile on the Email channel cannot be looked up by anything.
    result = await lookup_at_registration(
        port, Ch.Email, [Recipient(mobile_number="+4799999999"), person(P_EMAIL)]
    )
    assert result == RecipientLookupResult(status=Status.PartialSuccess)


async def test_stale_contact_information(port: LocalRegistryContactPoints) -> None:
    assert await lookup_at_registration(port, Ch.Email, [person(P_STALE)]) == missing(P_STALE)
    assert (
        await lookup_at_registration(port, Ch.Email, [person(P_STALE)], use_stale_contact_info=True)
        == success()
    )


async def test_matching_is_case_insensitive_for_external_identities(port: LocalRegistryContactPoints) -> None:
    assert await lookup_at_registration(port, Ch.Email, [external(X_EMAIL.upper())]) == success()


async def test_recipients_are_not_modified(port: LocalRegistryContactPoints) -> None:
    recipients = [person(P_BOTH), org(O_BOTH)]
    before = [r.model_copy(deep=True) for r in recipients]
    await lookup_at_registration(port, Ch.EmailAndSms, recipients)
    assert recipients == before


class RecordingPort:
    """Delegates to the real local registry and records the calls made (batching contract)."""

    def __init__(self, inner: LocalRegistryContactPoints) -> None:
        self.inner = inner
        self.calls: list[tuple[str, list[str]]] = []

    async def person_contact_points(
        self, national_identity_numbers: list[str], *, use_stale_contact_info: bool
    ) -> list[PersonContactPoints]:
        self.calls.append(("persons", national_identity_numbers))
        return await self.inner.person_contact_points(
            national_identity_numbers, use_stale_contact_info=use_stale_contact_info
        )

    async def organization_contact_points(
        self, organization_numbers: list[str]
    ) -> list[OrganizationContactPoints]:
        self.calls.append(("organizations", organization_numbers))
        return await self.inner.organization_contact_points(organization_numbers)

    async def organization_user_contact_points(
        self, organization_numbers: list[str], resource_id: str, *, action: str | None = None
    ) -> list[OrganizationContactPoints]:
        self.calls.append(("users", organization_numbers))
        return await self.inner.organization_user_contact_points(
            organization_numbers, resource_id, action=action
        )

    async def external_identity_contact_points(
        self, external_identities: list[str]
    ) -> list[ExternalIdentityContactPoints]:
        self.calls.append(("external", external_identities))
        return await self.inner.external_identity_contact_points(external_identities)


async def test_one_batched_call_per_kind_and_only_needed_recipients(port: LocalRegistryContactPoints) -> None:
    recording = RecordingPort(port)
    recipients = [
        person(P_EMAIL),
        person(P_BOTH),
        person(P_EMAIL),
        person(P_MOBILE, email_address="given@example.no"),  # not looked up
        org(O_BOTH),
        org(O_EMAIL),
        external(X_EMAIL),
    ]
    await lookup_at_registration(recording, Ch.Email, recipients)
    assert sorted(recording.calls) == [
        ("external", [X_EMAIL]),
        ("organizations", [O_BOTH, O_EMAIL]),
        ("persons", [P_EMAIL, P_BOTH]),
    ]
    recording.calls.clear()
    await lookup_at_registration(recording, Ch.Email, [org(O_BOTH)])
    assert recording.calls == [("organizations", [O_BOTH])]  # no user contact points at registration


# --- send-time helpers: user contact points, clean-up, by-channel rules ---


async def test_fetch_contact_points_with_resource_includes_permitted_users(
    port: LocalRegistryContactPoints,
) -> None:
    recipients = [org(O_NONE), org(O_BOTH)]
    lookup = await fetch_contact_points(port, recipients, resource_id="urn:altinn:resource:ttd_example")
    assert lookup.addresses_for(org(O_NONE), Ch.Email) == ChannelAddresses(emails=("user@none.no",))
    assert lookup.addresses_for(org(O_NONE), Ch.Sms) == ChannelAddresses(mobile_numbers=("+4741111111",))
    assert lookup.addresses_for(org(O_BOTH), Ch.EmailAndSms) == ChannelAddresses(
        emails=("post@both.no",), mobile_numbers=("+4740000001",)
    )
    denied: list[str] = []

    async def deny_all(
        entries: list[OrganizationContactPoints], resource: str
    ) -> list[OrganizationContactPoints]:
        denied.append(resource)
        return []

    lookup = await fetch_contact_points(
        port, recipients, resource_id=" ttd_example ", authorize_users=deny_all
    )
    assert denied == ["ttd_example"]
    assert lookup.addresses_for(org(O_NONE), Ch.Email).is_empty


def test_sanitize_resource_id() -> None:
    assert sanitize_resource_id(" urn:altinn:resource:ttd_example ") == "ttd_example"
    assert sanitize_resource_id("ttd_example") == "ttd_example"
    assert sanitize_resource_id(None) == ""
    assert sanitize_resource_id("urn:altinn:resource:") == ""


def test_person_addresses_by_channel() -> None:
    email, mobile = "a@b.no", "+4799999999"
    assert person_addresses(Ch.Email, email, mobile) == ChannelAddresses(emails=(email,))
    assert person_addresses(Ch.Sms, email, mobile) == ChannelAddresses(mobile_numbers=(mobile,))
    assert person_addresses(Ch.EmailAndSms, email, mobile) == ChannelAddresses((email,), (mobile,))
    assert person_addresses(Ch.EmailPreferred, email, mobile) == ChannelAddresses(emails=(email,))
    assert person_addresses(Ch.EmailPreferred, None, mobile) == ChannelAddresses(mobile_numbers=(mobile,))
    assert person_addresses(Ch.SmsPreferred, email, mobile) == ChannelAddresses(mobile_numbers=(mobile,))
    assert person_addresses(Ch.SmsPreferred, email, "") == ChannelAddresses(emails=(email,))
    assert person_addresses(Ch.Sms, email, None).is_empty


ORG_WITH_USERS = OrganizationContactPoints(
    organization_number=O_BOTH,
    emails=["post@firma.no", "POST@firma.no", " ", "info@firma.no"],
    mobile_numbers=["40000001", "+4740000001", "0047 40000002", "12"],
    user_contact_points=[
        UserContactPoints(user_id=1, email="ola@firma.no", mobile_number="41111111"),
        UserContactPoints(
            user_id=2, email="OLA@firma.no", mobile_number="+4741111111"
        ),  # duplicates of user 1
        UserContactPoints(user_id=3, email="post@firma.no", mobile_number=None),  # duplicate of official
        UserContactPoints(user_id=4, email=None, mobile_number="+4745454545"),
        UserContactPoints(user_id=5, email="kari@firma.no", mobile_number="999"),  # invalid mobile blanked
    ],
)


def test_clean_organization_contact_points() -> None:
    cleaned = clean_organization_contact_points(ORG_WITH_USERS)
    assert cleaned.emails == ["post@firma.no", "info@firma.no"]
    assert cleaned.mobile_numbers == ["+4740000001", "+4740000002"]
    assert [(u.user_id, u.email, u.mobile_number) for u in cleaned.user_contact_points] == [
        (1, "ola@firma.no", "+4741111111"),
        (4, None, "+4745454545"),
        (5, "kari@firma.no", None),
    ]


def test_organization_addresses_by_channel() -> None:
    cleaned = clean_organization_contact_points(ORG_WITH_USERS)
    official_emails = ("post@firma.no", "info@firma.no")
    official_mobiles = ("+4740000001", "+4740000002")
    assert organization_addresses(Ch.Email, cleaned) == ChannelAddresses(
        emails=(*official_emails, "ola@firma.no", "kari@firma.no")
    )
    assert organization_addresses(Ch.Sms, cleaned) == ChannelAddresses(
        mobile_numbers=(*official_mobiles, "+4741111111", "+4745454545")
    )
    assert organization_addresses(Ch.EmailAndSms, cleaned) == ChannelAddresses(
        emails=(*official_emails, "ola@firma.no", "kari@firma.no"),
        mobile_numbers=(*official_mobiles, "+4741111111", "+4745454545"),
    )
    # Preferred: official preferred list if any (else the other), plus per user preferred else other.
    assert organization_addresses(Ch.EmailPreferred, cleaned) == ChannelAddresses(
        emails=(*official_emails, "ola@firma.no", "kari@firma.no"), mobile_numbers=("+4745454545",)
    )
    assert organization_addresses(Ch.SmsPreferred, cleaned) == ChannelAddresses(
        emails=("kari@firma.no",), mobile_numbers=(*official_mobiles, "+4741111111", "+4745454545")
    )
    only_mobiles = OrganizationContactPoints(organization_number=O_MOBILE, mobile_numbers=["+4740000003"])
    assert organization_addresses(Ch.EmailPreferred, only_mobiles) == ChannelAddresses(
        mobile_numbers=("+4740000003",)
    )
    only_emails = OrganizationContactPoints(organization_number=O_EMAIL, emails=["post@email.no"])
    assert organization_addresses(Ch.SmsPreferred, only_emails) == ChannelAddresses(emails=("post@email.no",))

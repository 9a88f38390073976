"""Processing-stage recipient lookup (docs/compatibility.md C10, C11) and party names (docs/compatibility.md C10) on real PostgreSQL.

One contract suite, run against every `ContactPointsPort`/`PartyNamesPort` adapter: the local registry,
the Altinn HTTP adapters talking to a real loopback Profile/Register/PDP that serves the same registry
in the reference's wire formats (`altinn_fake.RegistryBackedAltinn`), and the national registers (persons
from KRR, organisation names from Enhetsregisteret, over the same registry, `tests/fakes/`).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from altinn_notifications.bootstrap import Container
from altinn_notifications.errors import DependencyError
from altinn_notifications.orders.lookup import lookup_at_processing
from altinn_notifications.orders.models import NotificationChannel, NotificationOrder, Recipient
from altinn_notifications.recipients import repository
from altinn_notifications.recipients.local import LocalRegistryContactPoints
from altinn_notifications.recipients.models import (
    ExternalIdentityContactPoints,
    OrganizationContactPoints,
    PersonContactPoints,
    ResolvedRecipient,
)
from altinn_notifications.recipients.ports import ContactPointsPort, PartyNamesPort
from altinn_notifications.recipients.registry import import_registry_document
from tests.fakes.registers import national_adapters, running_registers
from tests.recipients.altinn_fake import RegistryBackedAltinn, altinn_adapters

Ch = NotificationChannel

P_BOTH = "01010000001"
P_EMAIL = "01010000002"
P_MOBILE = "01010000003"
P_RESERVED = "01010000005"
P_STALE = "01010000007"
P_BAD_MOBILE = "01010000008"
P_UNKNOWN = "09090000000"
O_FIRMA = "910000001"  # official email + mobile, and users
O_USERS_ONLY = "910000002"  # no official addresses, one authorised user
O_MOBILE = "910000003"  # official mobile only
O_UNKNOWN = "990000000"
X_EMAIL = "urn:altinn:person:idporten-email:ola@example.no"
X_MOBILE = "urn:altinn:party:username:kari"
RESOURCE = "urn:altinn:resource:ttd_example"

REGISTRY: dict[str, Any] = {
    "persons": [
        {
            "nationalIdentityNumber": P_BOTH,
            "name": "Ola Nordmann",
            "email": "both@example.no",
            "mobileNumber": "98765432",
        },
        {"nationalIdentityNumber": P_EMAIL, "email": "email@example.no"},
        {"nationalIdentityNumber": P_MOBILE, "name": "Kari Nordmann", "mobileNumber": "004741234567"},
        {
            "nationalIdentityNumber": P_RESERVED,
            "email": "reserved@example.no",
            "mobileNumber": "+4799999999",
            "isReserved": True,
        },
        {
            "nationalIdentityNumber": P_STALE,
            "email": "stale@example.no",
            "lastVerified": "2020-01-01T00:00:00Z",
        },
    ],
    "organizations": [
        {
            "organizationNumber": O_FIRMA,
            "name": "Firma AS",
            "emails": ["post@firma.no"],
            "mobileNumbers": ["40000001"],
            "users": [
                {"userId": 1, "email": "ola@firma.no", "mobileNumber": "41111111", "resources": [RESOURCE]},
                # email duplicates the official one: blanked, the mobile stays
                {
                    "userId": 2,
                    "email": "POST@firma.no",
                    "mobileNumber": "+4746222222",
                    "resources": [RESOURCE],
                },
                # duplicates user 1 entirely: dropped
                {
                    "userId": 3,
                    "email": "OLA@firma.no",
                    "mobileNumber": "+4741111111",
                    "resources": ["ttd_example"],
                },
                # holds another resource only
                {"userId": 4, "email": "other@firma.no", "resources": ["urn:altinn:resource:ttd_other"]},
                {"userId": 5, "mobileNumber": "+4745454545", "resources": [RESOURCE]},
            ],
        },
        {
            "organizationNumber": O_USERS_ONLY,
            "users": [
                {"userId": 6, "email": "user@only.no", "mobileNumber": "41234000", "resources": [RESOURCE]}
            ],
        },
        {"organizationNumber": O_MOBILE, "name": "Mobil AS", "mobileNumbers": ["+4740000003"]},
    ],
    "externalIdentities": [
        {"externalIdentity": X_EMAIL, "email": "ola@example.no"},
        {"externalIdentity": X_MOBILE, "mobileNumber": "91234567", "email": "kari@example.no"},
    ],
}


async def _seed(container: Container) -> None:
    summary = await import_registry_document(container.pool, REGISTRY)
    assert summary.errors == []
    async with container.pool.acquire() as conn:
        # Register data the import would reject: the lookup must drop it (docs/compatibility.md C5, C11).
        await repository.upsert_persons(
            conn,
            [
                repository.RegistryPerson(
                    national_identity_number=P_BAD_MOBILE, email=None, mobile_number="12345"
                )
            ],
        )


@pytest.fixture(params=["local", "altinn", "krr+brreg"])
async def adapters(
    request: pytest.FixtureRequest, container: Container
) -> AsyncIterator[tuple[ContactPointsPort, PartyNamesPort]]:
    await _seed(container)
    local = LocalRegistryContactPoints(container.pool)
    if request.param == "local":
        yield local, local
        return
    if request.param == "krr+brreg":
        async with running_registers(local) as registers:
            yield national_adapters(registers, local)
        return
    async with (
        RegistryBackedAltinn.running(local, container.pool) as (_fake, base_url),
        altinn_adapters(base_url) as (profile, register),
    ):
        yield profile, register


@pytest.fixture
def port(adapters: tuple[ContactPointsPort, PartyNamesPort]) -> ContactPointsPort:
    return adapters[0]


@pytest.fixture
def names(adapters: tuple[ContactPointsPort, PartyNamesPort]) -> PartyNamesPort:
    return adapters[1]


def make_order(channel: NotificationChannel, *recipients: Recipient, **kw: Any) -> NotificationOrder:
    now = datetime.now(UTC)
    return NotificationOrder(
        id=uuid.uuid4(),
        creator="ttd",
        created=now,
        requested_send_time=now,
        notification_channel=channel,
        recipients=list(recipients),
        **kw,
    )


def person(nin: str, **kw: Any) -> Recipient:
    return Recipient(national_identity_number=nin, **kw)


def org(number: str, **kw: Any) -> Recipient:
    return Recipient(organization_number=number, **kw)


def external(identity: str) -> Recipient:
    return Recipient(external_identity=identity)


async def resolve(
    port: ContactPointsPort,
    channel: NotificationChannel,
    *recipients: Recipient,
    stale: bool = False,
    **kw: Any,
) -> list[ResolvedRecipient]:
    return await lookup_at_processing(
        port, make_order(channel, *recipients, **kw), use_stale_contact_info=stale
    )


async def addresses(
    port: ContactPointsPort, channel: NotificationChannel, recipient: Recipient, **kw: Any
) -> tuple[list[str], list[str]]:
    [resolved] = await resolve(port, channel, recipient, **kw)
    return resolved.emails, resolved.mobile_numbers


# --- persons and external identities ---


@pytest.mark.parametrize(
    ("channel", "nin", "expected"),
    [
        (Ch.Email, P_BOTH, (["both@example.no"], [])),
        (Ch.Sms, P_BOTH, ([], ["+4798765432"])),
        (Ch.EmailAndSms, P_BOTH, (["both@example.no"], ["+4798765432"])),
        (Ch.EmailPreferred, P_BOTH, (["both@example.no"], [])),
        (Ch.EmailPreferred, P_MOBILE, ([], ["+4741234567"])),
        (Ch.SmsPreferred, P_BOTH, ([], ["+4798765432"])),
        (Ch.SmsPreferred, P_EMAIL, (["email@example.no"], [])),
        (Ch.Email, P_MOBILE, ([], [])),
        (Ch.Sms, P_BAD_MOBILE, ([], [])),  # invalid register number dropped
        (Ch.SmsPreferred, P_BAD_MOBILE, ([], [])),
        (Ch.Email, P_UNKNOWN, ([], [])),
    ],
)
async def test_person_addresses_by_channel(
    port: ContactPointsPort, channel: NotificationChannel, nin: str, expected: tuple[list[str], list[str]]
) -> None:
    assert await addresses(port, channel, person(nin)) == expected


@pytest.mark.parametrize(
    ("channel", "identity", "expected"),
    [
        (Ch.Email, X_EMAIL, (["ola@example.no"], [])),
        (Ch.Sms, X_EMAIL, ([], [])),
        (Ch.EmailPreferred, X_MOBILE, (["kari@example.no"], [])),
        (Ch.SmsPreferred, X_MOBILE, ([], ["+4791234567"])),
        (Ch.SmsPreferred, X_EMAIL, (["ola@example.no"], [])),
        (Ch.EmailAndSms, X_MOBILE.upper(), (["kari@example.no"], ["+4791234567"])),  # case-insensitive
    ],
)
async def test_external_identity_addresses_by_channel(
    port: ContactPointsPort,
    channel: NotificationChannel,
    identity: str,
    expected: tuple[list[str], list[str]],
) -> None:
    assert await addresses(port, channel, external(identity)) == expected


async def test_reservation_flag_from_krr(port: ContactPointsPort) -> None:
    reserved, ok, unknown, organisation = await resolve(
        port, Ch.EmailAndSms, person(P_RESERVED), person(P_BOTH), person(P_UNKNOWN), org(O_FIRMA)
    )
    # Addresses of a reserved person are still attached: ignoreReservation is the pipeline's decision.
    assert reserved == ResolvedRecipient(
        national_identity_number=P_RESERVED,
        emails=["reserved@example.no"],
        mobile_numbers=["+4799999999"],
        is_reserved=True,
    )
    assert ok.is_reserved is False
    assert unknown == ResolvedRecipient(national_identity_number=P_UNKNOWN, is_reserved=None)
    assert organisation.is_reserved is None


async def test_stale_contact_information(port: ContactPointsPort) -> None:
    assert await addresses(port, Ch.Email, person(P_STALE)) == ([], [])
    assert await addresses(port, Ch.Email, person(P_STALE), stale=True) == (["stale@example.no"], [])
    [resolved] = await resolve(port, Ch.Email, person(P_STALE))
    assert resolved.is_reserved is False  # the flag is reported even when the data is stale


# --- organisations: official addresses and authorised users ---


async def test_org_without_resource_gets_official_addresses_only(port: ContactPointsPort) -> None:
    assert await addresses(port, Ch.EmailAndSms, org(O_FIRMA)) == (["post@firma.no"], ["+4740000001"])
    assert await addresses(port, Ch.EmailAndSms, org(O_USERS_ONLY)) == ([], [])
    assert await addresses(port, Ch.Email, org(O_UNKNOWN)) == ([], [])


@pytest.mark.parametrize(
    ("channel", "expected"),
    [
        # users 1, 2 (email blanked: official), 5; user 3 dropped (duplicate of 1), user 4 not authorised
        (Ch.Email, (["post@firma.no", "ola@firma.no"], [])),
        (Ch.Sms, ([], ["+4740000001", "+4741111111", "+4746222222", "+4745454545"])),
        (
            Ch.EmailAndSms,
            (["post@firma.no", "ola@firma.no"], ["+4740000001", "+4741111111", "+4746222222", "+4745454545"]),
        ),
        # official emails; per user email else mobile
        (Ch.EmailPreferred, (["post@firma.no", "ola@firma.no"], ["+4746222222", "+4745454545"])),
        # official mobiles; per user mobile else email
        (Ch.SmsPreferred, ([], ["+4740000001", "+4741111111", "+4746222222", "+4745454545"])),
    ],
)
async def test_org_with_resource_adds_authorised_users(
    port: ContactPointsPort, channel: NotificationChannel, expected: tuple[list[str], list[str]]
) -> None:
    assert await addresses(port, channel, org(O_FIRMA), resource_id=RESOURCE) == expected


async def test_org_user_resource_must_match(port: ContactPointsPort) -> None:
    assert await addresses(port, Ch.Email, org(O_FIRMA), resource_id="ttd_other") == (
        ["post@firma.no", "other@firma.no"],
        [],
    )
    assert await addresses(port, Ch.Email, org(O_FIRMA), resource_id="ttd_unknown") == (["post@firma.no"], [])


async def test_org_known_only_through_users(port: ContactPointsPort) -> None:
    assert await addresses(port, Ch.EmailPreferred, org(O_USERS_ONLY), resource_id=" ttd_example ") == (
        ["user@only.no"],
        [],
    )
    assert await addresses(port, Ch.SmsPreferred, org(O_USERS_ONLY), resource_id=RESOURCE) == (
        [],
        ["+4741234000"],
    )


async def test_org_preferred_falls_back_to_the_other_official_list(port: ContactPointsPort) -> None:
    assert await addresses(port, Ch.EmailPreferred, org(O_MOBILE), resource_id=RESOURCE) == (
        [],
        ["+4740000003"],
    )


async def test_resource_action_is_passed(port: ContactPointsPort) -> None:
    # The local registry permits every action of a held resource; the fake PDP does the same for
    # `read` and `write` (what it was asked is asserted in test_altinn_http).
    assert await addresses(port, Ch.Email, org(O_FIRMA), resource_id=RESOURCE, resource_action=" write ") == (
        ["post@firma.no", "ola@firma.no"],
        [],
    )


# --- direct addresses, order and identity fields ---


async def test_direct_addresses_are_kept(port: ContactPointsPort) -> None:
    resolved = await resolve(
        port,
        Ch.Email,
        Recipient(email_address=" given@example.no "),
        person(P_BOTH, email_address="given@example.no"),  # has an email: not looked up
        person(P_BOTH, mobile_number="+4790000000"),  # no email: looked up, own mobile kept
        org(O_FIRMA, email_address="org@given.no"),
    )
    assert resolved == [
        ResolvedRecipient(emails=["given@example.no"]),
        ResolvedRecipient(national_identity_number=P_BOTH, emails=["given@example.no"]),
        ResolvedRecipient(
            national_identity_number=P_BOTH,
            emails=["both@example.no"],
            mobile_numbers=["+4790000000"],
            is_reserved=False,
        ),
        ResolvedRecipient(organization_number=O_FIRMA, emails=["org@given.no"]),
    ]


async def test_every_recipient_once_in_order(port: ContactPointsPort) -> None:
    recipients = [person(P_EMAIL), org(O_FIRMA), person(P_EMAIL), external(X_EMAIL), person(P_UNKNOWN)]
    resolved = await resolve(port, Ch.Email, *recipients)
    assert [(r.national_identity_number, r.organization_number, r.external_identity) for r in resolved] == [
        (P_EMAIL, None, None),
        (None, O_FIRMA, None),
        (P_EMAIL, None, None),
        (None, None, X_EMAIL),
        (P_UNKNOWN, None, None),
    ]
    assert [r.emails for r in resolved] == [
        ["email@example.no"],
        ["post@firma.no"],
        ["email@example.no"],
        ["ola@example.no"],
        [],
    ]


async def test_stored_reservation_flag_kept_when_not_looked_up(port: ContactPointsPort) -> None:
    [resolved] = await resolve(port, Ch.Email, person(P_BOTH, email_address="a@b.no", is_reserved=True))
    assert resolved.is_reserved is True


async def test_empty_order(port: ContactPointsPort) -> None:
    assert await resolve(port, Ch.Email) == []


# --- party names ---


async def test_party_names(names: PartyNamesPort) -> None:
    found = await names.party_names(
        [O_FIRMA, O_USERS_ONLY, O_UNKNOWN, O_MOBILE], [P_BOTH, P_EMAIL, P_UNKNOWN, P_MOBILE]
    )
    assert found == {
        O_FIRMA: "Firma AS",
        O_MOBILE: "Mobil AS",
        P_BOTH: "Ola Nordmann",
        P_MOBILE: "Kari Nordmann",
    }
    assert await names.party_names([], []) == {}
    assert await names.party_names([O_FIRMA], []) == {O_FIRMA: "Firma AS"}
    assert await names.party_names([], [P_BOTH]) == {P_BOTH: "Ola Nordmann"}


# --- batching and failures (adapter-independent) ---


class RecordingPort:
    def __init__(self, inner: ContactPointsPort, fail: BaseException | None = None) -> None:
        self.inner = inner
        self.fail = fail
        self.calls: list[tuple[str, Any]] = []

    def _maybe_fail(self) -> None:
        if self.fail is not None:
            raise self.fail

    async def person_contact_points(
        self, national_identity_numbers: list[str], *, use_stale_contact_info: bool
    ) -> list[PersonContactPoints]:
        self.calls.append(("persons", (national_identity_numbers, use_stale_contact_info)))
        self._maybe_fail()
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
        self.calls.append(("users", (organization_numbers, resource_id, action)))
        return await self.inner.organization_user_contact_points(
            organization_numbers, resource_id, action=action
        )

    async def external_identity_contact_points(
        self, external_identities: list[str]
    ) -> list[ExternalIdentityContactPoints]:
        self.calls.append(("external", external_identities))
        return await self.inner.external_identity_contact_points(external_identities)


async def test_one_batched_call_per_kind_for_needed_recipients(container: Container) -> None:
    await _seed(container)
    recording = RecordingPort(LocalRegistryContactPoints(container.pool))
    await resolve(
        recording,
        Ch.Email,
        person(P_EMAIL),
        person(P_BOTH),
        person(P_EMAIL),
        person(P_MOBILE, email_address="given@example.no"),  # not looked up
        org(O_FIRMA),
        org(O_MOBILE),
        external(X_EMAIL),
        stale=True,
        resource_id=RESOURCE,
        resource_action="write",
    )
    assert sorted(recording.calls) == [
        ("external", [X_EMAIL]),
        ("organizations", [O_FIRMA, O_MOBILE]),
        ("persons", ([P_EMAIL, P_BOTH], True)),
        ("users", ([O_FIRMA, O_MOBILE], "ttd_example", "write")),
    ]
    recording.calls.clear()
    await resolve(recording, Ch.Sms, Recipient(mobile_number="+4799999999"))
    assert recording.calls == []


async def test_port_failures_are_dependency_errors(container: Container) -> None:
    local = LocalRegistryContactPoints(container.pool)
    with pytest.raises(DependencyError) as caught:
        await resolve(RecordingPort(local, fail=RuntimeError("boom")), Ch.Email, person(P_BOTH))
    assert isinstance(caught.value.__cause__, RuntimeError)
    original = DependencyError("profile down")
    with pytest.raises(DependencyError) as caught:
        await resolve(RecordingPort(local, fail=original), Ch.Email, person(P_BOTH), org(O_FIRMA))
    assert caught.value is original

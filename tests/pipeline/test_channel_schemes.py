"""Every channel scheme end to end: a person, an organisation with users and a resource, an external
identity and a direct address, through the real workers (docs/compatibility.md C10, C11)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from altinn_notifications.bootstrap import Container
from altinn_notifications.orders.models import (
    EmailTemplate,
    NotificationChannel,
    NotificationOrder,
    Recipient,
    SendingTimePolicy,
    SmsTemplate,
)
from altinn_notifications.orders.repository import OrderRepository
from altinn_notifications.recipients.registry import import_registry_document
from tests.pipeline.conftest import RunWorkers, eventually

EXTERNAL = "urn:altinn:person:idporten-email:ext@example.no"

REGISTRY: dict[str, Any] = {
    "persons": [
        {
            "nationalIdentityNumber": "16069412345",
            "name": "Ola Nordmann",
            "email": "ola@example.no",
            "mobileNumber": "98765432",
        }
    ],
    "organizations": [
        {
            "organizationNumber": "810419652",
            "name": "Firma AS",
            "emails": ["post@firma.no"],
            "mobileNumbers": ["+4799999999"],
            "users": [
                {
                    "userId": 1,
                    "email": "user@firma.no",
                    "mobileNumber": "+4741234567",
                    "resources": ["urn:altinn:resource:ttd_x"],
                },
                {"userId": 2, "email": "nope@firma.no", "resources": ["urn:altinn:resource:other"]},
            ],
        }
    ],
    "externalIdentities": [
        {"externalIdentity": EXTERNAL, "email": "ext@example.no", "mobileNumber": "+4740000000"}
    ],
}

# What each scheme must produce: (emails, SMS numbers), with the person's, the organisation's (official and
# its authorised user's), the external identity's and the direct recipient's addresses.
EXPECTED: dict[NotificationChannel, tuple[set[str], set[str]]] = {
    NotificationChannel.Email: (
        {"ola@example.no", "post@firma.no", "user@firma.no", "ext@example.no", "direct@example.no"},
        set(),
    ),
    NotificationChannel.Sms: (
        set(),
        {"+4798765432", "+4799999999", "+4741234567", "+4740000000", "+4790000001"},
    ),
    NotificationChannel.EmailAndSms: (
        {"ola@example.no", "post@firma.no", "user@firma.no", "ext@example.no", "direct@example.no"},
        {"+4798765432", "+4799999999", "+4741234567", "+4740000000", "+4790000001"},
    ),
    # Preferred: email where there is one; the direct recipient arrives with both kinds and gets both.
    NotificationChannel.EmailPreferred: (
        {"ola@example.no", "post@firma.no", "user@firma.no", "ext@example.no", "direct@example.no"},
        {"+4790000001"},
    ),
    NotificationChannel.SmsPreferred: (
        {"direct@example.no"},
        {"+4798765432", "+4799999999", "+4741234567", "+4740000000", "+4790000001"},
    ),
}

NOON_OSLO = datetime(2026, 11, 27, 11, 0, tzinfo=UTC)


def _order(channel: NotificationChannel) -> NotificationOrder:
    now = datetime.now(UTC)
    return NotificationOrder(
        id=uuid.uuid4(),
        creator="ttd",
        created=now,
        requested_send_time=now,
        notification_channel=channel,
        resource_id="urn:altinn:resource:ttd_x",
        sending_time_policy=SendingTimePolicy.Anytime,
        email_template=EmailTemplate(
            from_address="noreply@altinn.no", subject="Til $recipientName$", body="Nr $recipientNumber$"
        ),
        sms_template=SmsTemplate(sender_number="Altinn", body="Hei $recipientName$"),
        recipients=[
            Recipient(national_identity_number="16069412345"),
            Recipient(organization_number="810419652"),
            Recipient(external_identity=EXTERNAL),
            Recipient(email_address="direct@example.no", mobile_number="+4790000001"),
        ],
    )


@pytest.mark.parametrize("channel", list(NotificationChannel))
async def test_channel_scheme_end_to_end(
    container: Container, run_workers: RunWorkers, channel: NotificationChannel
) -> None:
    await import_registry_document(container.pool, REGISTRY)
    order = _order(channel)
    async with container.transaction() as conn:
        await OrderRepository(conn).insert(order)

    async def completed() -> bool:
        async with container.pool.acquire() as conn:
            status = await conn.fetchval(
                "SELECT processedstatus::text FROM orders WHERE alternateid = $1", order.id
            )
        return bool(status == "Completed")

    async with run_workers(clock=lambda: NOON_OSLO):
        await eventually(completed, within=20)

    async with container.pool.acquire() as conn:
        emails = await conn.fetch(
            """SELECT e.toaddress, e.result::text, e.customizedsubject, e.customizedbody, e.recipientorgno, e.recipientnin
               FROM emailnotifications e JOIN orders o ON o._id = e._orderid WHERE o.alternateid = $1""",
            order.id,
        )
        sms = await conn.fetch(
            """SELECT s.mobilenumber, s.result::text, s.customizedbody, s.recipientorgno, s.recipientnin
               FROM smsnotifications s JOIN orders o ON o._id = s._orderid WHERE o.alternateid = $1""",
            order.id,
        )
        feed = await conn.fetchval(
            "SELECT count(*) FROM statusfeed f JOIN orders o ON o._id = f.orderid WHERE o.alternateid = $1",
            order.id,
        )

    expected_emails, expected_sms = EXPECTED[channel]
    assert {e["toaddress"] for e in emails} == expected_emails
    assert {s["mobilenumber"] for s in sms} == expected_sms
    assert len(emails) == len(expected_emails) and len(sms) == len(expected_sms)  # each address once
    assert {e["result"] for e in emails} | {s["result"] for s in sms} <= {"Delivered"}
    assert "nope@firma.no" not in {e["toaddress"] for e in emails}  # no right on the resource
    assert feed == 1

    by_email = {e["toaddress"]: e for e in emails}
    if "post@firma.no" in by_email:  # the organisation: its name and number in the texts
        assert by_email["post@firma.no"]["customizedsubject"] == "Til Firma AS"
        assert by_email["post@firma.no"]["customizedbody"] == "Nr 810419652"
        assert by_email["user@firma.no"]["recipientorgno"] == "810419652"
    if "ola@example.no" in by_email:  # a person: the name, never the national identity number
        assert by_email["ola@example.no"]["customizedsubject"] == "Til Ola Nordmann"
        assert by_email["ola@example.no"]["customizedbody"] == "Nr "
    for address in ("ext@example.no", "direct@example.no"):  # no identity in the register: verbatim
        if address in by_email:
            assert by_email[address]["customizedsubject"] is None
    by_number = {s["mobilenumber"]: s for s in sms}
    if "+4799999999" in by_number:
        assert by_number["+4799999999"]["customizedbody"] == "Hei Firma AS"
    if "+4798765432" in by_number:
        assert by_number["+4798765432"]["customizedbody"] == "Hei Ola Nordmann"
        assert by_number["+4798765432"]["recipientnin"] == "16069412345"

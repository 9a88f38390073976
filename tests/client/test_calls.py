"""Every call of the client against the real service on loopback HTTP (its database, its workers)."""

from __future__ import annotations

import asyncio
import inspect
from uuid import UUID, uuid4

import pytest

from altinn_notifications.config import SCOPE_COMPOSED_EMAIL
from altinn_notifications_client import (
    AsyncClient,
    Client,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    UnprocessableError,
    ValidationError,
    recipients,
)
from altinn_notifications_client.models import (
    ComposedEmailRequest,
    ComposedEmailSendingOptions,
    EmailContentType,
    EmailNotificationOrderRequest,
    EmailTemplate,
    InstantEmailContent,
    InstantEmailDetails,
    InstantEmailNotificationOrderRequest,
    InstantSmsNotificationOrderRequest,
    NotificationChannel,
    NotificationOrderChainRequest,
    NotificationOrderRequest,
    NotificationReminder,
    OrderProcessingStatus,
    OrderType,
    ProcessingLifecycle,
    RecipientComposedEmail,
    SendingTimePolicy,
    ShortMessageContent,
    ShortMessageDeliveryDetails,
    SmsNotificationOrderRequest,
    SmsTemplate,
)
from tests.client.conftest import FAST_RETRIES
from tests.conftest import TokenFactory
from tests.pipeline.conftest import RunWorkers


def _email_order(reference: str = "ref-1") -> EmailNotificationOrderRequest:
    return EmailNotificationOrderRequest(
        senders_reference=reference,
        subject="Your application",
        body="It has been received.",
        content_type=EmailContentType.Plain,
        recipients=[recipients.v1_email("ola@example.no")],
    )


async def test_v1_orders_create_read_list_and_summaries(client: AsyncClient, run_workers: RunWorkers) -> None:
    email = await client.create_email_order(_email_order())
    assert isinstance(email.order_id, UUID) and email.recipient_lookup is None  # addresses need no lookup
    sms = await client.create_sms_order(
        SmsNotificationOrderRequest(
            senders_reference="ref-1", body="Hei", recipients=[recipients.v1_sms("+4799999999")]
        )
    )
    generic = await client.create_order(
        NotificationOrderRequest(
            senders_reference="ref-2",
            notification_channel=NotificationChannel.Sms,
            sms_template=SmsTemplate(body="Hei igjen"),
            email_template=EmailTemplate(subject="s", body="b"),
            recipients=[recipients.v1_sms("004799999998")],
        )
    )

    order = await client.get_order(email.order_id)
    assert order.id == email.order_id and order.creator == "ttd"
    assert order.email_template is not None and order.email_template.subject == "Your application"
    assert order.notification_channel is NotificationChannel.Email
    assert order.links.self.endswith(str(email.order_id))

    listed = await client.list_orders("ref-1")
    assert listed.count == 2 and {o.id for o in listed.orders} == {email.order_id, sms.order_id}
    assert (await client.list_orders("no-such-reference")).count == 0

    status = await client.get_order_status(generic.order_id)
    assert status.processing_status.status is OrderProcessingStatus.Registered
    assert not status.is_final

    async with run_workers():
        done = await client.wait_for_order(email.order_id, timeout=30, interval=0.1)
        await client.wait_for_order(sms.order_id, timeout=30, interval=0.1)
    assert done.processing_status.status is OrderProcessingStatus.Completed
    summary = await client.get_email_notifications(email.order_id)
    assert (summary.order_id, summary.generated, summary.senders_reference) == (email.order_id, 1, "ref-1")
    assert summary.notifications[0].recipient.email_address == "ola@example.no"
    sms_summary = await client.get_sms_notifications(sms.order_id)
    assert (
        sms_summary.generated == 1 and sms_summary.notifications[0].recipient.mobile_number == "+4799999999"
    )


async def test_cancel_and_its_conflict(client: AsyncClient, run_workers: RunWorkers) -> None:
    from datetime import UTC, datetime, timedelta

    later = _email_order("later").model_copy(
        update={"requested_send_time": datetime.now(UTC) + timedelta(days=1)}
    )
    placed = await client.create_email_order(later)
    cancelled = await client.cancel_order(placed.order_id)
    assert cancelled.processing_status.status is OrderProcessingStatus.Cancelled and cancelled.is_final

    now = await client.create_email_order(_email_order("now"))
    async with run_workers():
        await client.wait_for_order(now.order_id, timeout=30, interval=0.1)
    with pytest.raises(ConflictError) as too_late:
        await client.cancel_order(now.order_id)
    assert too_late.value.status_code == 409


async def test_errors_are_typed_with_their_problem_details(
    client: AsyncClient, service: str, make_token: TokenFactory
) -> None:
    bad = EmailNotificationOrderRequest(
        subject="s", body="b", recipients=[{"emailAddress": "not-an-address"}]
    )  # type: ignore[list-item]
    with pytest.raises(ValidationError) as invalid:
        await client.create_email_order(bad)
    assert invalid.value.status_code == 400
    assert ["Invalid email address format."] in invalid.value.errors.values()
    assert "not-an-address" not in str(invalid.value)

    with pytest.raises(NotFoundError) as missing:
        await client.get_shipment(uuid4())
    assert missing.value.code == "NOT-00003"

    async with AsyncClient(service, make_token("ttd", scopes=["some:other"])) as unscoped:
        with pytest.raises(PermissionDeniedError):
            await unscoped.get_order(uuid4())
    with pytest.raises(ValueError):
        await client.get_order("../orders")  # not an id: refused before anything is sent


async def test_v2_chain_with_reminders_receipt_and_shipment(
    client: AsyncClient, run_workers: RunWorkers
) -> None:
    request = NotificationOrderChainRequest(
        senders_reference="chain-1",
        recipient=recipients.to_email("kari@example.no", recipients.email_settings("Frist", "Husk fristen")),
        reminders=[
            NotificationReminder(
                senders_reference="chain-1-reminder",
                delay_days=3,
                recipient=recipients.to_sms("+4799999999", recipients.sms_settings("Husk fristen")),
            )
        ],
    )
    receipt = await client.create_order_chain(request)
    assert receipt.notification.senders_reference == "chain-1"
    assert (
        receipt.notification.reminders
        and receipt.notification.reminders[0].senders_reference == "chain-1-reminder"
    )
    assert await client.get_order_chain(receipt.notification_order_id) == receipt

    shipment = await client.get_shipment(receipt.notification.shipment_id)
    assert shipment.type is OrderType.Notification and shipment.senders_reference == "chain-1"
    async with run_workers():
        final = await client.wait_for_shipment(receipt.notification.shipment_id, timeout=30, interval=0.1)
    assert final.status is ProcessingLifecycle.Order_Completed
    assert [r.destination for r in final.recipients] == ["kari@example.no"]


async def test_v2_organization_without_contact_and_idempotent_repeat(client: AsyncClient) -> None:
    unknown = NotificationOrderChainRequest(
        recipient=recipients.to_organization(
            "313441571",
            channel=NotificationChannel.EmailPreferred,
            email=recipients.email_settings("s", "b"),
            sms=recipients.sms_settings("b"),
        ),
    )
    with pytest.raises(UnprocessableError) as no_contact:  # no register knows this organisation
        await client.create_order_chain(unknown)
    assert no_contact.value.code == "NOT-00001"

    request = NotificationOrderChainRequest(
        idempotency_id="my-own-id",
        recipient=recipients.to_email("kari@example.no", recipients.email_settings("s", "b")),
    )
    first = await client.create_order_chain(request)
    assert await client.create_order_chain(request) == first  # the same idempotencyId: the same order
    other = await client.create_order_chain(request.model_copy(update={"idempotency_id": None}))
    assert other.notification_order_id != first.notification_order_id  # a new id filled in


async def test_instant_sms_and_email(client: AsyncClient) -> None:
    sms = await client.send_instant_sms(
        InstantSmsNotificationOrderRequest(
            senders_reference="otp",
            recipient_sms=ShortMessageDeliveryDetails(
                phone_number=recipients.mobile_number("+4799999999"),
                time_to_live_in_seconds=3600,
                sms_settings=ShortMessageContent(body="Kode 1234"),
            ),
        )
    )
    email = await client.send_instant_email(
        InstantEmailNotificationOrderRequest(
            recipient_email=InstantEmailDetails(
                email_address="ola@example.no",
                email_settings=InstantEmailContent(subject="Kode", body="1234"),
            )
        )
    )
    assert (await client.get_shipment(sms.notification.shipment_id)).type is OrderType.Instant
    assert (await client.get_shipment(email.notification.shipment_id)).type is OrderType.Instant


async def test_composed_email_needs_its_scope(
    service: str, make_token: TokenFactory, client: AsyncClient
) -> None:
    request = ComposedEmailRequest(
        senders_reference="composed",
        recipient=RecipientComposedEmail(
            email_address="ola@example.no",
            email_settings=ComposedEmailSendingOptions(subject="Vedlegg", body="Se vedlegg", attachments=[]),
        ),
    )
    with pytest.raises(PermissionDeniedError):
        await client.create_composed_email(request)
    async with AsyncClient(
        service, make_token("ttd", scopes=[SCOPE_COMPOSED_EMAIL]), retry=FAST_RETRIES
    ) as composer:
        receipt = await composer.create_composed_email(request)
    assert (await client.get_shipment(receipt.notification.shipment_id)).type is OrderType.Composed


def test_the_blocking_client_has_the_same_surface() -> None:
    def public(cls: type) -> dict[str, list[str]]:
        return {
            name: list(inspect.signature(member).parameters)
            for name, member in inspect.getmembers(cls, inspect.isfunction)
            if not name.startswith("_")
        }

    sync, asynchronous = public(Client), public(AsyncClient)
    assert set(sync) - {"close"} == set(asynchronous) - {"aclose"}
    assert {n: p for n, p in sync.items() if n != "close"} == {
        n: p for n, p in asynchronous.items() if n != "aclose"
    }
    for name in asynchronous:
        if name != "iter_status_feed":
            assert inspect.iscoroutinefunction(getattr(AsyncClient, name)), name


async def test_the_blocking_client_against_the_service(
    service: str, token: str, run_workers: RunWorkers
) -> None:
    def scenario() -> tuple[UUID, str, int]:
        with Client(service, token, retry=FAST_RETRIES) as api:
            placed = api.create_email_order(_email_order("sync"))
            receipt = api.create_order_chain(
                NotificationOrderChainRequest(
                    # At any hour: the default holds SMS to daytime, and the test must not depend on when it runs.
                    recipient=recipients.to_sms(
                        "+4799999999",
                        recipients.sms_settings("Hei", sending_time_policy=SendingTimePolicy.Anytime),
                    )
                )
            )
            final = api.wait_for_shipment(receipt.notification.shipment_id, timeout=30, interval=0.1)
            return placed.order_id, str(final.status), api.list_orders("sync").count

    async with run_workers():
        order_id, status, count = await asyncio.to_thread(scenario)
    assert status == "Order_Completed" and count == 1
    assert isinstance(order_id, UUID)

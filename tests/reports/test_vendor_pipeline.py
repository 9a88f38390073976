"""End to end with the real vendor adapters against fake vendors on loopback: an order placed through the API
is sent, polled (ACS), reported through the webhooks and completed (docs/compatibility.md C12, C14)."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import pytest

from altinn_notifications.bootstrap import Container
from altinn_notifications.dispatch.repository import DispatchRepository
from altinn_notifications.dispatch.service import DispatchConfig
from altinn_notifications.dispatch.worker import StatusPoller
from altinn_notifications.orders.models import (
    NotificationChannel,
    NotificationOrder,
    OrderType,
    Recipient,
    SendingTimePolicy,
    SmsTemplate,
)
from altinn_notifications.orders.repository import OrderRepository
from altinn_notifications.processing.models import NewSmsNotification
from altinn_notifications.processing.repository import ProcessingRepository
from altinn_notifications.providers.email.acs import AcsEmailProvider
from altinn_notifications.providers.sms.linkmobility import LinkMobilitySmsProvider
from altinn_notifications.queue.maintenance import LeaseRescue, MaintenanceSettings
from altinn_notifications.recipients.registry import import_registry_document
from altinn_notifications.vocabulary import OrderStatus
from tests.api.helpers import V1
from tests.loopback import serve
from tests.pipeline.conftest import RunWorkers, eventually
from tests.providers.fake_acs import FakeAcs, Operation, acs_error, connection_string
from tests.providers.fake_linkmobility import PASSWORD, USERNAME, FakeGateway
from tests.reports.conftest import ACCESS_KEY, SMS_PASSWORD, SMS_USER, add_notification, notification

NOON_OSLO = datetime(2026, 11, 27, 11, 0, tzinfo=UTC)
EMAIL_REPORTS = "/notifications/email/api/v1/reports"
SMS_REPORTS = "/notifications/sms/api/v1/reports"


def vendors(container: Container, *, email: Any = None, sms: Any = None) -> Container:
    """A copy of `container` with the given vendor providers (for the workers a test runs)."""
    replaced = {"email_provider": email, "sms_provider": sms}
    return dataclasses.replace(container, **{part: p for part, p in replaced.items() if p is not None})


@pytest.fixture
async def api(app_url: str, auth: dict[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=app_url, headers=auth) as http:
        yield http


async def _order(api: httpx.AsyncClient, path: str, body: dict[str, Any]) -> str:
    response = await api.post(f"{V1}{path}", json=body)
    assert response.status_code == 202, response.text
    order_id: str = response.json()["orderId"]
    return order_id


async def _rows(container: Container, order_id: str, channel: str = "email") -> list[dict[str, Any]]:
    table, ref = (
        ("emailnotifications", "operationid")
        if channel == "email"
        else ("smsnotifications", "gatewayreference")
    )
    extra = ", n.smscount" if channel == "sms" else ""
    async with container.pool.acquire() as conn:
        rows = await conn.fetch(
            f"""SELECT n.alternateid, n.result::text AS result, n.{ref} AS ref, n.attempts, n.deliveryreport{extra}
                FROM {table} n JOIN orders o ON o._id = n._orderid WHERE o.alternateid = $1 ORDER BY n._id""",
            UUID(order_id),
        )
    return [dict(r) for r in rows]


async def _order_status(container: Container, order_id: str) -> str:
    async with container.pool.acquire() as conn:
        status: str = await conn.fetchval(
            "SELECT processedstatus::text FROM orders WHERE alternateid = $1", UUID(order_id)
        )
    return status


def _completed(container: Container, order_id: str) -> Any:
    async def check() -> bool:
        return await _order_status(container, order_id) == "Completed"

    return check


# --- ACS ---


@pytest.fixture
async def fake_acs(app_url: str) -> AsyncIterator[tuple[FakeAcs, str]]:
    fake = FakeAcs(running_polls=1, report_url=f"{app_url}{EMAIL_REPORTS}?accesskey={ACCESS_KEY}")
    async with serve(fake.app) as url:
        yield fake, url


async def test_acs_order_is_sent_polled_reported_and_completed(
    report_settings: Container, api: httpx.AsyncClient, fake_acs: tuple[FakeAcs, str], run_workers: RunWorkers
) -> None:
    fake, url = fake_acs
    acs = AcsEmailProvider(connection_string(url), poll_interval=0.3)
    order_id = await _order(
        api,
        "/orders/email",
        {
            "subject": "Hello",
            "body": "<p>Hi</p>",
            "contentType": "Html",
            "recipients": [{"emailAddress": "ola@example.no"}],
        },
    )
    async with run_workers(container=vendors(report_settings, email=acs)):
        await eventually(_completed(report_settings, order_id), within=15)
    await acs.close()
    rows = await _rows(report_settings, order_id)
    assert [r["result"] for r in rows] == ["Delivered"]
    # The operation id is the notification id (the Operation-Id header), polled until Succeeded, then reported.
    assert all(r["ref"] == str(r["alternateid"]) for r in rows)
    assert all(
        r["deliveryreport"]["eventType"] == "Microsoft.Communication.EmailDeliveryReportReceived"
        for r in rows
    )
    assert fake.signature_failures == 0
    assert [s["content"] for s in fake.sends] == [{"subject": "Hello", "html": "<p>Hi</p>"}]
    assert fake.poll_count[str(rows[0]["alternateid"])] == 2  # Running once, then Succeeded
    assert [status for status, _ in fake.reports_posted] == [200]


async def test_acs_failed_operation_and_refused_sends_complete_the_order(
    report_settings: Container, api: httpx.AsyncClient, fake_acs: tuple[FakeAcs, str], run_workers: RunWorkers
) -> None:
    fake, url = fake_acs
    fake.running_polls = 0
    acs = AcsEmailProvider(connection_string(url), poll_interval=0.2)
    order_id = await _order(
        api,
        "/orders/email",
        {
            "subject": "s",
            "body": "b",
            "recipients": [
                {"emailAddress": "opfails@example.no"},
                {"emailAddress": "suppressed@example.no"},
                {"emailAddress": "badformat@example.no"},
                {"emailAddress": "toolarge@example.no"},
            ],
        },
    )
    async with run_workers(container=vendors(report_settings, email=acs)):
        await eventually(_completed(report_settings, order_id), within=15)
    await acs.close()
    assert [r["result"] for r in await _rows(report_settings, order_id)] == [
        "Failed",
        "Failed_SupressedRecipient",
        "Failed_InvalidEmailFormat",
        "Failed_PayloadTooLarge",
    ]


async def test_acs_rate_limit_pauses_the_email_channel_then_resumes(
    report_settings: Container, api: httpx.AsyncClient, fake_acs: tuple[FakeAcs, str], run_workers: RunWorkers
) -> None:
    fake, url = fake_acs
    fake.queue(acs_error(429, "TooManyRequests", "Too many requests", {"Retry-After": "2"}))
    acs = AcsEmailProvider(connection_string(url), poll_interval=0.2)
    order_id = await _order(
        api, "/orders/email", {"subject": "s", "body": "b", "recipients": [{"emailAddress": "a@example.no"}]}
    )
    async with run_workers(container=vendors(report_settings, email=acs)):

        async def paused() -> bool:
            async with report_settings.pool.acquire() as conn:
                return bool(
                    await conn.fetchval(
                        "SELECT emaillimittimeout > now() FROM resourcelimitlog WHERE channel = 'email'"
                    )
                )

        await eventually(paused, within=5)
        async with report_settings.pool.acquire() as conn:
            until: datetime = await conn.fetchval(
                "SELECT emaillimittimeout FROM resourcelimitlog WHERE channel = 'email'"
            )
        await eventually(_completed(report_settings, order_id), within=15)
    await acs.close()
    first, second = fake.send_times
    assert 1.5 < until.timestamp() - first < 2.5
    assert second >= until.timestamp() - 0.05  # nothing was sent to ACS during the pause
    [row] = await _rows(report_settings, order_id)
    assert (row["result"], row["attempts"]) == ("Delivered", 2)


async def test_acs_server_errors_and_timeouts_are_retried(
    report_settings: Container, api: httpx.AsyncClient, fake_acs: tuple[FakeAcs, str], run_workers: RunWorkers
) -> None:
    fake, url = fake_acs
    fake.queue(acs_error(503, "ServiceUnavailable", "try later"))
    fake.queue_poll(acs_error(500, "InternalServerError", "poll broke"))
    acs = AcsEmailProvider(connection_string(url), poll_interval=0.2)
    order_id = await _order(
        api, "/orders/email", {"subject": "s", "body": "b", "recipients": [{"emailAddress": "a@example.no"}]}
    )
    async with run_workers(
        container=vendors(report_settings, email=acs),
        dispatch=DispatchConfig(retry_base_seconds=0.2, poll_retry_seconds=0.2),
    ):
        await eventually(_completed(report_settings, order_id), within=15)
    await acs.close()
    [row] = await _rows(report_settings, order_id)
    assert (row["result"], row["attempts"]) == (
        "Delivered",
        2,
    )  # one resend after the 503, none after the poll error
    assert len(fake.sends) == 2


async def test_lease_rescue_polls_instead_of_resending(
    report_settings: Container, fake_acs: tuple[FakeAcs, str]
) -> None:
    fake, url = fake_acs
    fake.running_polls = 0
    accepted = await add_notification(report_settings, result="Sending", reference="op-accepted")
    in_flight = await add_notification(
        report_settings, result="Sending", reference=None, order_id=accepted.order_id
    )
    fake.operations["op-accepted"] = Operation(
        "op-accepted", "ola@example.no", "noreply@altinn.no", fail=False
    )
    async with report_settings.pool.acquire() as conn:  # both workers died: their leases ran out
        await conn.execute("UPDATE emailnotifications SET claimed_until = now() - interval '1 second'")
    assert await LeaseRescue(report_settings.transaction, MaintenanceSettings()).run() == 2
    assert (await notification(report_settings, in_flight))["result"] == "New"  # never reached ACS: resend
    rescued = await notification(report_settings, accepted)
    assert rescued["result"] == "Sending" and rescued["next_attempt_at"] <= datetime.now(UTC)

    acs = AcsEmailProvider(connection_string(url), poll_interval=0.2)
    try:
        poller = StatusPoller(report_settings.transaction, "email", acs, DispatchConfig())
        assert await poller.run_once() == 1
    finally:
        await acs.close()
    assert (await notification(report_settings, accepted))["result"] == "Succeeded"
    assert fake.sends == [] and fake.poll_count["op-accepted"] == 1


async def test_a_poll_claim_of_a_dead_poller_is_taken_over(report_settings: Container) -> None:
    row = await add_notification(report_settings, result="Sending", reference="op-lost")
    lease = timedelta(seconds=0.3)
    async with report_settings.transaction() as conn:
        assert [c.reference for c in await DispatchRepository(conn).claim_polls("email", 10, lease)] == [
            "op-lost"
        ]
    # The poller "crashed" without writing: nobody else may poll before its lease ends ...
    async with report_settings.transaction() as conn:
        assert await DispatchRepository(conn).claim_polls("email", 10, lease) == []
    await asyncio.sleep(0.4)
    # ... and afterwards any worker takes it over.
    async with report_settings.transaction() as conn:
        assert [c.id for c in await DispatchRepository(conn).claim_polls("email", 10, lease)] == [row.id]


# --- LINK Mobility ---


@pytest.fixture
async def gateway(app_url: str) -> AsyncIterator[tuple[FakeGateway, LinkMobilitySmsProvider]]:
    fake = FakeGateway(report_url=f"{app_url}{SMS_REPORTS}", report_auth=(SMS_USER, SMS_PASSWORD))
    async with serve(fake.app) as url:
        provider = LinkMobilitySmsProvider(
            url + "/", USERNAME, PASSWORD, timeout=2.0, retry_delays=(0.3, 0.6)
        )
        try:
            yield fake, provider
        finally:
            await provider.close()


async def test_sms_order_is_accepted_reported_and_completed(
    report_settings: Container,
    api: httpx.AsyncClient,
    gateway: tuple[FakeGateway, LinkMobilitySmsProvider],
    run_workers: RunWorkers,
) -> None:
    fake, link = gateway
    body = "Du har fått en ny melding i Altinn. " * 5  # 180 GSM-7 characters: two segments
    order_id = await _order(
        api,
        "/orders/sms",
        {
            "body": body,
            "senderNumber": "Digitaliseringsdirektoratet",
            "recipients": [{"mobileNumber": "+4799999999"}],
        },
    )
    async with run_workers(container=vendors(report_settings, sms=link), clock=lambda: NOON_OSLO):
        await eventually(_completed(report_settings, order_id), within=15)
    [row] = await _rows(report_settings, order_id, "sms")
    assert (row["result"], row["smscount"], row["attempts"]) == ("Delivered", 2, 1)
    assert row["ref"] and row["deliveryreport"]["state"] == "DELIVRD"
    [request] = fake.requests
    assert (request["RCV"], request["SND"], request["TTL"]) == ("4799999999", "Digitaliser", "2880")
    assert fake.acknowledgements == [
        (200, '<?xml version="1.0"?>\n<MSGLST><MSG><ID>1</ID><STATUS>OK</STATUS></MSG></MSGLST>')
    ]


async def test_sms_report_that_overtakes_the_send_result(
    report_settings: Container,
    api: httpx.AsyncClient,
    gateway: tuple[FakeGateway, LinkMobilitySmsProvider],
    run_workers: RunWorkers,
) -> None:
    fake, link = gateway
    fake.report_before_answer = True
    fake.report_state = "UNDELIV"
    order_id = await _order(
        api, "/orders/sms", {"body": "Hei 😀", "recipients": [{"mobileNumber": "+4799999999"}]}
    )
    async with run_workers(container=vendors(report_settings, sms=link), clock=lambda: NOON_OSLO):
        await eventually(_completed(report_settings, order_id), within=15)
    [row] = await _rows(report_settings, order_id, "sms")
    assert (row["result"], row["smscount"]) == ("Failed_Undelivered", 1)
    assert fake.requests[0]["OP"] == "9"
    async with report_settings.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM deliveryreportretries") == 0
        assert await conn.fetchval("SELECT count(*) FROM deaddeliveryreports") == 0


async def test_sms_gateway_errors_follow_the_retry_schedule_then_fail(
    report_settings: Container,
    api: httpx.AsyncClient,
    gateway: tuple[FakeGateway, LinkMobilitySmsProvider],
    run_workers: RunWorkers,
) -> None:
    fake, link = gateway
    link.batch_size = 1  # one SMS per request: the gateway's HTTP error concerns its own message only
    order_id = await _order(
        api,
        "/orders/sms",
        {"body": "Hei", "recipients": [{"mobileNumber": "+4741000500"}, {"mobileNumber": "+4741000001"}]},
    )
    started = time.monotonic()
    async with run_workers(container=vendors(report_settings, sms=link), clock=lambda: NOON_OSLO):
        await eventually(_completed(report_settings, order_id), within=15)
    assert time.monotonic() - started >= 0.9  # the schedule, not the generic back-off
    rows = await _rows(report_settings, order_id, "sms")
    assert [(r["result"], r["attempts"]) for r in rows] == [("Failed", 3), ("Failed_InvalidRecipient", 1)]
    times = [t for t, number in fake.call_times if number == "4741000500"]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(times) == 3
    assert gaps[0] >= 0.3 - 0.05 and gaps[1] >= 0.6 - 0.05, gaps


async def test_sms_gateway_error_then_accepted(
    report_settings: Container,
    api: httpx.AsyncClient,
    gateway: tuple[FakeGateway, LinkMobilitySmsProvider],
    run_workers: RunWorkers,
) -> None:
    from starlette.responses import Response

    fake, link = gateway
    fake.queue(Response("busy", status_code=503))
    order_id = await _order(
        api, "/orders/sms", {"body": "Hei", "recipients": [{"mobileNumber": "+4799999999"}]}
    )
    async with run_workers(container=vendors(report_settings, sms=link), clock=lambda: NOON_OSLO):
        await eventually(_completed(report_settings, order_id), within=15)
    [row] = await _rows(report_settings, order_id, "sms")
    assert (row["result"], row["attempts"]) == ("Delivered", 2)


async def test_appendix_b_mixed_order_with_both_vendors(
    report_settings: Container,
    api: httpx.AsyncClient,
    fake_acs: tuple[FakeAcs, str],
    gateway: tuple[FakeGateway, LinkMobilitySmsProvider],
    run_workers: RunWorkers,
) -> None:
    """Email and SMS through the vendor adapters in one order (EmailPreferred with an SMS fallback)."""
    _, url = fake_acs
    _, link = gateway
    await import_registry_document(
        report_settings.pool,
        {
            "persons": [
                {"nationalIdentityNumber": "16069412345", "name": "Ola", "mobileNumber": "+4798765432"}
            ]
        },
    )
    acs = AcsEmailProvider(connection_string(url), poll_interval=0.2)
    order_id = await _order(
        api,
        "/orders",
        {
            "notificationChannel": "EmailPreferred",
            "emailTemplate": {"subject": "New message", "body": "Hi"},
            "smsTemplate": {"body": "You have a new message."},
            "recipients": [{"nationalIdentityNumber": "16069412345"}, {"emailAddress": "known@example.no"}],
        },
    )
    async with run_workers(container=vendors(report_settings, email=acs, sms=link), clock=lambda: NOON_OSLO):
        await eventually(_completed(report_settings, order_id), within=15)
    await acs.close()
    assert [r["result"] for r in await _rows(report_settings, order_id, "email")] == ["Delivered"]
    assert [r["result"] for r in await _rows(report_settings, order_id, "sms")] == ["Delivered"]


async def test_instant_sms_carries_what_is_left_of_the_callers_time_to_live(
    report_settings: Container,
) -> None:
    """docs/compatibility.md C12: the gateway TTL of an instant SMS is the caller's, not 48 hours."""
    now = datetime.now(UTC)
    ttls: dict[OrderType, int | None] = {}
    for kind, expires in (
        (OrderType.Instant, timedelta(seconds=600)),
        (OrderType.Notification, timedelta(hours=48)),
    ):
        order = NotificationOrder(
            id=uuid.uuid4(),
            creator="ttd",
            created=now,
            requested_send_time=now,
            type=kind,
            sending_time_policy=SendingTimePolicy.Anytime,
            notification_channel=NotificationChannel.Sms,
            sms_template=SmsTemplate(sender_number="Altinn", body="Kode: 1234"),
            recipients=[Recipient(mobile_number="+4799999999")],
        )
        async with report_settings.transaction() as conn:
            order_id = await OrderRepository(conn).insert(order, status=OrderStatus.Processed)
            await ProcessingRepository(conn).insert_sms(
                order_id, [NewSmsNotification(uuid.uuid4(), "+4799999999", "New", now + expires)]
            )
        async with report_settings.transaction() as conn:
            [claimed] = await DispatchRepository(conn).claim_sms(10, timedelta(minutes=5), daytime_open=True)
        ttls[kind] = claimed.time_to_live_seconds
    instant = ttls[OrderType.Instant]
    assert instant is not None and 590 <= instant <= 600
    assert ttls[OrderType.Notification] is None  # the provider's 48 hours

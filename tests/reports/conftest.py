"""Fixtures for delivery-report tests: webhook settings, the app on loopback, notification rows."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from pydantic import SecretStr

from altinn_notifications.api.app import create_app
from altinn_notifications.bootstrap import Container
from altinn_notifications.orders.models import (
    EmailTemplate,
    NotificationChannel,
    NotificationOrder,
    Recipient,
)
from altinn_notifications.orders.repository import OrderRepository
from altinn_notifications.vocabulary import OrderStatus
from tests.loopback import serve
from tests.pipeline.conftest import run_workers  # noqa: F401  (the pipeline's fixture, shared here)

ACCESS_KEY = "event-grid-key-123"
SMS_USER, SMS_PASSWORD = "reports", "report-secret"
FAST_REPORT_RETRIES = [0.1, 0.1, 0.1]


@pytest.fixture
def report_settings(container: Container) -> Container:
    """A copy of the test's container with webhook credentials and a fast report-retry schedule."""
    settings = container.settings.model_copy(
        update={
            "acs_reports_access_key": SecretStr(ACCESS_KEY),
            "sms_reports_username": SMS_USER,
            "sms_reports_password": SecretStr(SMS_PASSWORD),
            "report_retry_schedule_seconds": FAST_REPORT_RETRIES,
        }
    )
    return dataclasses.replace(container, settings=settings)


@pytest.fixture
async def app_url(report_settings: Container) -> AsyncIterator[str]:
    """The API served by uvicorn on loopback (vendors call the webhooks over real HTTP)."""
    async with serve(create_app(report_settings)) as url:
        yield url


@dataclass(frozen=True)
class Row:
    id: UUID
    order_id: int
    reference: str | None


async def add_notification(
    container: Container,
    channel: str = "email",
    *,
    result: str = "Succeeded",
    reference: str | None = None,
    expires_in: timedelta = timedelta(hours=48),
    order_status: OrderStatus = OrderStatus.Processed,
    order_id: int | None = None,
) -> Row:
    """One notification row (and its order, `Processed`, unless given) as dispatch would leave it."""
    now = datetime.now(UTC)
    async with container.transaction() as conn:
        if order_id is None:
            order = NotificationOrder(
                id=uuid.uuid4(),
                creator="ttd",
                created=now,
                requested_send_time=now,
                notification_channel=NotificationChannel.Email,
                email_template=EmailTemplate(from_address="noreply@altinn.no", subject="s", body="b"),
                recipients=[Recipient(email_address="ola@example.no")],
            )
            order_id = await OrderRepository(conn).insert(order, status=order_status)
        notification_id = uuid.uuid4()
        if channel == "email":
            await conn.execute(
                """INSERT INTO emailnotifications (_orderid, alternateid, toaddress, result, resulttime, expirytime,
                                                   operationid)
                   VALUES ($1, $2, 'ola@example.no', $3::emailnotificationresulttype, now(), now() + $4::interval, $5)""",
                order_id,
                notification_id,
                result,
                expires_in,
                reference,
            )
        else:
            await conn.execute(
                """INSERT INTO smsnotifications (_orderid, alternateid, mobilenumber, result, resulttime, expirytime,
                                                 gatewayreference)
                   VALUES ($1, $2, '+4799999999', $3::smsnotificationresulttype, now(), now() + $4::interval, $5)""",
                order_id,
                notification_id,
                result,
                expires_in,
                reference,
            )
    return Row(notification_id, order_id, reference)


async def notification(container: Container, row: Row, channel: str = "email") -> dict[str, Any]:
    table = "emailnotifications" if channel == "email" else "smsnotifications"
    columns = "result::text AS result, deliveryreport, next_attempt_at, attempts" + (
        ", smscount" if channel == "sms" else ""
    )
    async with container.pool.acquire() as conn:
        found = await conn.fetchrow(f"SELECT {columns} FROM {table} WHERE alternateid = $1", row.id)
        assert found is not None
        return dict(found)


async def order_status(container: Container, order_id: int) -> str:
    async with container.pool.acquire() as conn:
        status: str = await conn.fetchval("SELECT processedstatus::text FROM orders WHERE _id = $1", order_id)
        return status


async def dead_reports(container: Container) -> list[dict[str, Any]]:
    async with container.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT id, channel, deliveryreport, attemptcount, reason, resolved, firstseen, lastattempt "
            "FROM deaddeliveryreports ORDER BY id"
        )
    return [dict(r) for r in rows]


async def waiting_reports(container: Container) -> list[dict[str, Any]]:
    async with container.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT channel, reference, result, attemptcount, next_attempt_at FROM deliveryreportretries ORDER BY id"
        )
    return [dict(r) for r in rows]

"""An order placed through the API arrives at a real SMTP server (aiosmtpd on loopback) through the
SMTP provider, and is followed to `Delivered`, `Completed` and a status-feed entry (docs/compatibility.md C10)."""

from __future__ import annotations

import asyncio
import email
import email.policy
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from email.message import EmailMessage as MimeMessage
from typing import Any
from uuid import UUID

import httpx
import pytest
from aiosmtpd.smtp import SMTP as SMTPServerProtocol
from aiosmtpd.smtp import Envelope, Session

from altinn_notifications.bootstrap import Container
from altinn_notifications.providers.email.smtp import SmtpEmailProvider
from altinn_notifications.recipients.registry import import_registry_document
from tests.api.helpers import V1
from tests.conftest import ContainerFactory
from tests.pipeline.conftest import RunWorkers, eventually


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: MimeMessage


@dataclass
class Mailbox:
    messages: list[Received] = field(default_factory=list)

    async def handle_DATA(self, server: SMTPServerProtocol, session: Session, envelope: Envelope) -> str:
        content = envelope.content
        assert isinstance(content, bytes)
        parsed = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(parsed, MimeMessage)
        self.messages.append(Received(str(envelope.mail_from), list(envelope.rcpt_tos), parsed))
        return "250 2.0.0 Ok: queued"

    def to(self, address: str) -> list[Received]:
        return [m for m in self.messages if m.rcpt_tos == [address]]


@pytest.fixture
def mailbox() -> Mailbox:
    return Mailbox()


@pytest.fixture
async def smtp_provider(mailbox: Mailbox) -> AsyncIterator[SmtpEmailProvider]:
    """The SMTP provider, to a real server on loopback delivering into `mailbox`."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTPServerProtocol(mailbox, hostname="smtp.test", loop=loop), "127.0.0.1", 0
    )
    port = server.sockets[0].getsockname()[1]
    provider = SmtpEmailProvider("127.0.0.1", port, local_hostname="worker.test", max_connections=4)
    try:
        yield provider
    finally:
        await provider.close()
        server.close()
        await server.wait_closed()


@pytest.fixture
def container(make_container: ContainerFactory, smtp_provider: SmtpEmailProvider) -> Container:
    """The test container with SMTP to the loopback server as its email provider."""
    return make_container(email_provider=smtp_provider)


@pytest.fixture
def smtp_container(container: Container, mailbox: Mailbox) -> tuple[Container, Mailbox]:
    return container, mailbox


REGISTRY = {
    "organizations": [
        {
            "organizationNumber": "810419652",
            "name": "Firma AS",
            "emails": ["post@firma.no"],
            "mobileNumbers": [],
            "users": [],
        }
    ]
}


async def _place(client: httpx.AsyncClient, auth: dict[str, str], body: dict[str, Any]) -> str:
    response = await client.post(f"{V1}/orders/email", json=body, headers=auth)
    assert response.status_code == 202, response.text
    order_id: str = response.json()["orderId"]
    return order_id


async def _order_status(container: Container, order_id: str) -> str:
    async with container.pool.acquire() as conn:
        status: str = await conn.fetchval(
            "SELECT processedstatus::text FROM orders WHERE alternateid = $1", UUID(order_id)
        )
    return status


async def _notifications(container: Container, order_id: str) -> dict[str, tuple[UUID, str, str | None]]:
    async with container.pool.acquire() as conn:
        rows = await conn.fetch(
            """SELECT e.toaddress, e.alternateid, e.result::text, e.operationid
               FROM emailnotifications e JOIN orders o ON o._id = e._orderid WHERE o.alternateid = $1""",
            UUID(order_id),
        )
    return {r["toaddress"]: (r["alternateid"], r["result"], r["operationid"]) for r in rows}


async def test_order_through_the_api_is_delivered_over_smtp(
    smtp_container: tuple[Container, Mailbox],
    client: httpx.AsyncClient,
    auth: dict[str, str],
    run_workers: RunWorkers,
) -> None:
    container, mailbox = smtp_container
    await import_registry_document(container.pool, REGISTRY)
    order_id = await _place(
        client,
        auth,
        {
            "subject": "Melding til $recipientName$",
            "body": "Hei $recipientName$ ($recipientNumber$), du har en ny melding.",
            "recipients": [{"emailAddress": "ola@example.no"}, {"organizationNumber": "810419652"}],
            "sendersReference": "smtp-e2e",
        },
    )

    async def completed() -> bool:
        return await _order_status(container, order_id) == "Completed"

    async with run_workers():
        await eventually(completed, within=10)

    assert sorted(m.rcpt_tos[0] for m in mailbox.messages) == ["ola@example.no", "post@firma.no"]
    rows = await _notifications(container, order_id)

    # A recipient given by address: the template as written (no identity, so no placeholder values).
    [plain] = mailbox.to("ola@example.no")
    assert plain.mail_from == container.settings.default_email_from_address
    assert plain.message["From"] == container.settings.default_email_from_address
    assert plain.message["To"] == "ola@example.no"
    assert plain.message["Subject"] == "Melding til $recipientName$"
    assert plain.message.get_content_type() == "text/plain"
    assert (
        plain.message.get_content().strip()
        == "Hei $recipientName$ ($recipientNumber$), du har en ny melding."
    )
    assert plain.message["X-Notification-Id"] == str(rows["ola@example.no"][0])

    # The organisation from the local registry: its official address, with the texts customised.
    [org] = mailbox.to("post@firma.no")
    assert org.message["To"] == "post@firma.no"
    assert org.message["Subject"] == "Melding til Firma AS"
    assert org.message.get_content().strip() == "Hei Firma AS (810419652), du har en ny melding."
    assert org.message["X-Notification-Id"] == str(rows["post@firma.no"][0])

    # Each notification is Delivered with the Message-ID as its vendor reference.
    for address, received in (("ola@example.no", plain), ("post@firma.no", org)):
        _, result, reference = rows[address]
        assert result == "Delivered"
        assert reference == received.message["Message-ID"]

    async with container.pool.acquire() as conn:
        feed = await conn.fetchval(
            "SELECT f.orderstatus FROM statusfeed f JOIN orders o ON o._id = f.orderid WHERE o.alternateid = $1",
            UUID(order_id),
        )
    assert feed["status"] == "Order_Completed"
    assert feed["sendersReference"] == "smtp-e2e"
    assert sorted((r["destination"], r["status"]) for r in feed["recipients"]) == [
        ("ola@example.no", "Email_Delivered"),
        ("post@firma.no", "Email_Delivered"),
    ]
    summary = (await client.get(f"{V1}/orders/{order_id}/notifications/email", headers=auth)).json()
    assert summary["generated"] == 2 and summary["succeeded"] == 2


async def test_html_order_arrives_as_html(
    smtp_container: tuple[Container, Mailbox],
    client: httpx.AsyncClient,
    auth: dict[str, str],
    run_workers: RunWorkers,
) -> None:
    container, mailbox = smtp_container
    order_id = await _place(
        client,
        auth,
        {
            "subject": "Html",
            "body": "<p>Hei <b>du</b></p>",
            "contentType": "Html",
            "recipients": [{"emailAddress": "kari@example.no"}],
        },
    )

    async def completed() -> bool:
        return await _order_status(container, order_id) == "Completed"

    async with run_workers():
        await eventually(completed, within=10)
    [received] = mailbox.to("kari@example.no")
    assert received.message.get_content_type() == "text/html"
    assert received.message.get_content().strip() == "<p>Hei <b>du</b></p>"

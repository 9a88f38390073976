"""Composed emails end to end (docs/compatibility.md C7, C12): ordered through the API, attachments downloaded by HTTP
GET from a blob server on loopback, sent over SMTP to a real aiosmtpd server, results and completion.

The order's SAS URLs are real-looking Azure Blob URLs (`https://account.blob.core.windows.net/...`), so
they pass the API's SAS rules unchanged; the downloader's HTTP transport sends those requests to the
loopback server instead (scheme, host and port rewritten, path and query kept), as a DNS entry would.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import logging
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage as MimeMessage
from typing import Any
from urllib.parse import quote
from uuid import UUID

import httpx
import pytest
from aiosmtpd.smtp import SMTP as SMTPServerProtocol
from aiosmtpd.smtp import Envelope, Session
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from altinn_notifications.bootstrap import Container
from altinn_notifications.config import SCOPE_COMPOSED_EMAIL
from altinn_notifications.dispatch.attachments import HttpAttachmentDownloader
from altinn_notifications.providers.email.smtp import SmtpEmailProvider
from tests.api.helpers import V1
from tests.conftest import ContainerFactory
from tests.loopback import serve
from tests.pipeline.conftest import RunWorkers, eventually

PDF = b"%PDF-1.4\n" + bytes(range(256)) * 64 + b"\n%%EOF"
CSV = "navn;beløp\nOla;100\n".encode()
SIG = "c2lnbmF0dXJlLXNlY3JldA%3D%3D"


def sas_url(name: str) -> str:
    expiry = quote((datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"), safe="")
    return f"https://account.blob.core.windows.net/files/{name}?sv=2022-11-02&se={expiry}&sr=b&sp=r&sig={SIG}"


# --- a blob server on loopback ---


@dataclass
class BlobServer:
    """Serves files; `script[name]` lists statuses to answer first (then the file); counts requests."""

    files: dict[str, bytes] = field(default_factory=dict)
    script: dict[str, list[int]] = field(default_factory=dict)
    requests: Counter[str] = field(default_factory=Counter)
    delays: dict[str, float] = field(default_factory=dict)
    queries: list[dict[str, str]] = field(default_factory=list)

    def app(self) -> Starlette:
        async def blob(request: Request) -> Response:
            name = request.path_params["name"]
            self.requests[name] += 1
            self.queries.append(dict(request.query_params))
            if self.delays.get(name):
                await asyncio.sleep(self.delays[name])
            planned = self.script.get(name)
            if planned:
                return Response(status_code=planned.pop(0))
            if name not in self.files:
                return Response(status_code=404)
            return Response(self.files[name], media_type="application/octet-stream")

        return Starlette(routes=[Route("/files/{name}", blob)])


class ToLoopback(httpx.AsyncBaseTransport):
    """Sends every request to the loopback server, keeping path and query."""

    def __init__(self, base: str) -> None:
        self.base = httpx.URL(base)
        self.inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        target = request.url.copy_with(scheme="http", host=self.base.host, port=self.base.port)
        forwarded = httpx.Request(
            request.method,
            target,
            headers=request.headers,
            stream=request.stream,
            extensions=request.extensions,
        )
        return await self.inner.handle_async_request(forwarded)

    async def aclose(self) -> None:
        await self.inner.aclose()


# --- a real SMTP server ---


@dataclass
class Mailbox:
    messages: list[MimeMessage] = field(default_factory=list)

    async def handle_DATA(self, server: SMTPServerProtocol, session: Session, envelope: Envelope) -> str:
        content = envelope.content
        assert isinstance(content, bytes)
        parsed = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(parsed, MimeMessage)
        self.messages.append(parsed)
        return "250 2.0.0 Ok: queued"

    def to(self, address: str) -> list[MimeMessage]:
        return [m for m in self.messages if m["To"] == address]


@dataclass
class Setup:
    container: Container
    blobs: BlobServer
    mailbox: Mailbox


@dataclass
class Parts:
    blobs: BlobServer
    mailbox: Mailbox
    provider: SmtpEmailProvider
    downloader: HttpAttachmentDownloader


@pytest.fixture
async def composed_parts() -> AsyncIterator[Parts]:
    """SMTP to aiosmtpd and attachments downloaded from the loopback blob server (closed afterwards)."""
    blobs, mailbox = BlobServer(), Mailbox()
    loop = asyncio.get_running_loop()
    smtp = await loop.create_server(
        lambda: SMTPServerProtocol(mailbox, hostname="smtp.test", loop=loop), "127.0.0.1", 0
    )
    provider = SmtpEmailProvider(
        "127.0.0.1", smtp.sockets[0].getsockname()[1], local_hostname="worker.test", max_connections=4
    )
    async with serve(blobs.app()) as base:
        downloader = HttpAttachmentDownloader(timeout=5.0, transport=ToLoopback(base))
        try:
            yield Parts(blobs, mailbox, provider, downloader)
        finally:
            await downloader.close()
            await provider.close()
            smtp.close()
            await smtp.wait_closed()


@pytest.fixture
def container(make_container: ContainerFactory, composed_parts: Parts) -> Container:
    """The test container with the SMTP provider and the loopback attachment source."""
    return make_container(email_provider=composed_parts.provider, attachments=composed_parts.downloader)


@pytest.fixture
def composed_setup(container: Container, composed_parts: Parts) -> Setup:
    return Setup(container, composed_parts.blobs, composed_parts.mailbox)


async def _order(
    client: httpx.AsyncClient, make_token: Any, address: str, attachments: list[dict[str, str]]
) -> str:
    body = {
        "idempotencyId": str(uuid.uuid4()),
        "sendersReference": "composed-e2e",
        "recipient": {
            "emailAddress": address,
            "emailSettings": {
                "senderEmailAddress": "noreply@etat.no",
                "subject": "Vedtak",
                "body": "Se vedlagt vedtak.",
                "contentType": "Plain",
                "attachments": attachments,
            },
        },
    }
    headers = {"Authorization": f"Bearer {make_token('ttd', scopes=[SCOPE_COMPOSED_EMAIL])}"}
    response = await client.post(f"{V1}/future/orders/composed-email", json=body, headers=headers)
    assert response.status_code == 201, response.text
    shipment: str = response.json()["notification"]["shipmentId"]
    return shipment


async def _state(container: Container, shipment: str) -> dict[str, Any]:
    async with container.pool.acquire() as conn:
        row = await conn.fetchrow(
            """SELECT o.processedstatus::text AS status, e.result::text AS result, e.attempts,
                      e.total_attachment_size_bytes AS size, e.alternateid,
                      (SELECT f.orderstatus FROM statusfeed f WHERE f.orderid = o._id) AS feed
               FROM orders o LEFT JOIN emailnotifications e ON e._orderid = o._id
               WHERE o.alternateid = $1""",
            UUID(shipment),
        )
    assert row is not None
    return dict(row)


def _completed(container: Container, shipment: str) -> Any:
    async def check() -> bool:
        return (await _state(container, shipment))["status"] == "Completed"

    return check


async def test_composed_email_arrives_with_its_attachments(
    composed_setup: Setup,
    client: httpx.AsyncClient,
    make_token: Any,
    run_workers: RunWorkers,
    caplog: pytest.LogCaptureFixture,
) -> None:
    container, blobs, mailbox = composed_setup.container, composed_setup.blobs, composed_setup.mailbox
    blobs.files = {"vedtak.pdf": PDF, "beløp.csv": CSV}
    shipment = await _order(
        client,
        make_token,
        "ola@example.no",
        [
            {"filename": "vedtak.pdf", "mimeType": "application/pdf", "sasUrl": sas_url("vedtak.pdf")},
            {"filename": "beløp.csv", "mimeType": "text/csv", "sasUrl": sas_url("bel%C3%B8p.csv")},
        ],
    )
    caplog.set_level(logging.INFO, logger="httpx")
    async with run_workers():
        await eventually(_completed(container, shipment), within=10)

    [message] = mailbox.to("ola@example.no")
    assert message["Subject"] == "Vedtak"
    assert message["From"] == "noreply@etat.no"
    parts = {p.get_filename(): p for p in message.iter_attachments()}
    assert set(parts) == {"vedtak.pdf", "beløp.csv"}
    assert parts["vedtak.pdf"].get_content_type() == "application/pdf"
    assert parts["vedtak.pdf"].get_content() == PDF
    assert parts["beløp.csv"].get_content_type() == "text/csv"
    assert parts["beløp.csv"].get_payload(decode=True) == CSV
    assert message.get_body(preferencelist=("plain",)).get_content().strip() == "Se vedlagt vedtak."

    state = await _state(container, shipment)
    assert (state["result"], state["attempts"], state["size"]) == ("Delivered", 1, len(PDF) + len(CSV))
    assert message["X-Notification-Id"] == str(state["alternateid"])
    assert [(r["destination"], r["status"]) for r in state["feed"]["recipients"]] == [
        ("ola@example.no", "Email_Delivered")
    ]
    # Each file was fetched once, with its SAS query intact; the SAS signature was never logged.
    assert blobs.requests == Counter({"vedtak.pdf": 1, "beløp.csv": 1})
    assert {q["sig"] for q in blobs.queries} == {"c2lnbmF0dXJlLXNlY3JldA=="}
    assert "c2lnbmF0dXJl" not in caplog.text
    # httpx logs each request: the URL is there without its query.
    assert 'GET https://account.blob.core.windows.net/files/vedtak.pdf "HTTP/1.1 200 OK"' in caplog.text


async def test_a_refused_sas_url_fails_the_email_and_completes_the_order(
    composed_setup: Setup, client: httpx.AsyncClient, make_token: Any, run_workers: RunWorkers
) -> None:
    container, blobs, mailbox = composed_setup.container, composed_setup.blobs, composed_setup.mailbox
    blobs.files = {"ok.pdf": PDF, "expired.pdf": PDF}
    blobs.script = {"expired.pdf": [403] * 10}
    shipment = await _order(
        client,
        make_token,
        "kari@example.no",
        [
            {"filename": "ok.pdf", "mimeType": "application/pdf", "sasUrl": sas_url("ok.pdf")},
            {"filename": "expired.pdf", "mimeType": "application/pdf", "sasUrl": sas_url("expired.pdf")},
        ],
    )
    async with run_workers():
        await eventually(_completed(container, shipment), within=10)
        await asyncio.sleep(0.5)  # nothing more happens to it

    state = await _state(container, shipment)
    assert (state["result"], state["attempts"], state["size"]) == ("Failed_InvalidSasUrl", 1, 0)
    assert blobs.requests["expired.pdf"] == 1  # final: not retried
    assert mailbox.messages == []
    assert state["feed"]["status"] == "Order_Completed"
    assert [r["status"] for r in state["feed"]["recipients"]] == ["Email_Failed_InvalidSasUrl"]


async def test_an_unavailable_blob_is_retried_until_the_email_is_delivered(
    composed_setup: Setup, client: httpx.AsyncClient, make_token: Any, run_workers: RunWorkers
) -> None:
    container, blobs, mailbox = composed_setup.container, composed_setup.blobs, composed_setup.mailbox
    blobs.files = {"busy.pdf": PDF}
    blobs.script = {"busy.pdf": [503, 429]}
    shipment = await _order(
        client,
        make_token,
        "per@example.no",
        [{"filename": "busy.pdf", "mimeType": "application/pdf", "sasUrl": sas_url("busy.pdf")}],
    )
    async with run_workers():
        await eventually(_completed(container, shipment), within=15)

    state = await _state(container, shipment)
    assert (state["result"], state["attempts"], state["size"]) == ("Delivered", 3, len(PDF))
    assert blobs.requests["busy.pdf"] == 3
    [message] = mailbox.to("per@example.no")
    [part] = message.iter_attachments()
    assert (part.get_filename(), part.get_content()) == ("busy.pdf", PDF)


async def test_slow_attachments_do_not_hold_up_ordinary_email(
    composed_setup: Setup,
    client: httpx.AsyncClient,
    make_token: Any,
    auth: dict[str, str],
    run_workers: RunWorkers,
) -> None:
    container, blobs, mailbox = composed_setup.container, composed_setup.blobs, composed_setup.mailbox
    blobs.files = {"slow.pdf": PDF}
    blobs.delays = {"slow.pdf": 2.0}
    composed = await _order(
        client,
        make_token,
        "slow@example.no",
        [{"filename": "slow.pdf", "mimeType": "application/pdf", "sasUrl": sas_url("slow.pdf")}],
    )
    async with run_workers():

        async def downloading() -> bool:
            return blobs.requests["slow.pdf"] == 1

        await eventually(downloading, within=5)
        response = await client.post(
            f"{V1}/orders/email",
            json={"subject": "s", "body": "b", "recipients": [{"emailAddress": "fast@example.no"}]},
            headers=auth,
        )
        assert response.status_code == 202, response.text
        ordinary = response.json()["orderId"]
        started = asyncio.get_running_loop().time()
        await eventually(_completed(container, ordinary), within=5)
        assert asyncio.get_running_loop().time() - started < 1.5  # while the download still runs
        assert (await _state(container, composed))["result"] == "Sending"
        await eventually(_completed(container, composed), within=10)
    assert [m["To"] for m in mailbox.messages] == ["fast@example.no", "slow@example.no"]

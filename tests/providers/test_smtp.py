"""The SMTP provider against a real aiosmtpd server on loopback (same event loop, no database)."""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import email.policy
import socket
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from email.message import EmailMessage as MimeMessage
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from aiosmtpd.smtp import SMTP as SMTPServerProtocol
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from altinn_notifications.providers.base import Attachment, EmailMessage
from altinn_notifications.providers.email.smtp import SmtpEmailProvider, classify_reply, redact
from altinn_notifications.providers.outbox import Outbox
from tests.certificates import server_files


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: MimeMessage
    raw: bytes = b""


@dataclass
class RecordingHandler:
    """Records accepted messages; answers configured replies for chosen recipients."""

    messages: list[Received] = field(default_factory=list)
    rcpt_replies: dict[str, str] = field(default_factory=dict)
    data_reply: str | None = None
    connections: int = 0
    protocols: list[SMTPServerProtocol] = field(default_factory=list)

    async def handle_RCPT(
        self,
        server: SMTPServerProtocol,
        session: Session,
        envelope: Envelope,
        address: str,
        options: list[str],
    ) -> str:
        reply = self.rcpt_replies.get(address.lower())
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTPServerProtocol, session: Session, envelope: Envelope) -> str:
        if self.data_reply is not None:
            return self.data_reply
        content = envelope.content
        assert isinstance(content, bytes)
        parsed = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(parsed, MimeMessage)
        assert envelope.mail_from is not None
        self.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos), parsed, content))
        return "250 2.0.0 Ok: queued"


@dataclass
class SmtpServer:
    handler: RecordingHandler
    port: int

    def drop_connections(self) -> None:
        for protocol in self.handler.protocols:
            if protocol.transport is not None:
                protocol.transport.close()


ServerFactory = Callable[..., Any]


@pytest.fixture
async def start_server() -> AsyncIterator[ServerFactory]:
    servers: list[asyncio.Server] = []

    async def start(
        *,
        tls_context: ssl.SSLContext | None = None,
        implicit_tls: ssl.SSLContext | None = None,
        authenticator: Any = None,
    ) -> SmtpServer:
        handler = RecordingHandler()
        loop = asyncio.get_running_loop()

        def factory() -> SMTPServerProtocol:
            handler.connections += 1
            protocol = SMTPServerProtocol(
                handler,
                hostname="smtp.test",
                loop=loop,
                tls_context=tls_context,
                authenticator=authenticator,
                auth_require_tls=True,
            )
            handler.protocols.append(protocol)
            return protocol

        server = await loop.create_server(factory, "127.0.0.1", 0, ssl=implicit_tls)
        servers.append(server)
        return SmtpServer(handler=handler, port=server.sockets[0].getsockname()[1])

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


@pytest.fixture
async def smtp_server(start_server: ServerFactory) -> SmtpServer:
    server: SmtpServer = await start_server()
    return server


@pytest.fixture
async def provider(smtp_server: SmtpServer, tmp_path: Path) -> AsyncIterator[SmtpEmailProvider]:
    outbox = Outbox(tmp_path)
    smtp = SmtpEmailProvider("127.0.0.1", smtp_server.port, max_connections=2, timeout=5, outbox=outbox)
    await smtp.start(_no_reports)
    yield smtp
    await smtp.close()
    await outbox.close()


async def _no_reports(report: object) -> None:
    raise AssertionError("SMTP produces no delivery reports")


def message(to: str = "someone@example.com", **kwargs: Any) -> EmailMessage:
    values: dict[str, Any] = {
        "notification_id": uuid4(),
        "from_address": "noreply@altinn.no",
        "to_address": to,
        "subject": "Melding fra Altinn",
        "body": "Hei på deg",
    }
    values.update(kwargs)
    return EmailMessage(**values)


# -- delivery -----------------------------------------------------------------------------------------


async def test_plain_message_arrives_with_headers(
    provider: SmtpEmailProvider, smtp_server: SmtpServer
) -> None:
    sent = message()
    outcome = await provider.send(sent)
    assert outcome.result == "Delivered"
    assert not outcome.transient
    assert outcome.reference == f"<{sent.notification_id}@altinn.no>"

    [received] = smtp_server.handler.messages
    assert received.mail_from == "noreply@altinn.no"
    assert received.rcpt_tos == ["someone@example.com"]
    mime = received.message
    assert mime["From"] == "noreply@altinn.no"
    assert mime["To"] == "someone@example.com"
    assert mime["Subject"] == "Melding fra Altinn"
    assert mime["Message-ID"] == outcome.reference
    assert mime["X-Notification-Id"] == str(sent.notification_id)
    date = mime["Date"].datetime
    assert abs(dt.datetime.now(dt.UTC) - date) < dt.timedelta(minutes=1)
    assert mime.get_content_type() == "text/plain"
    assert mime.get_content().strip() == "Hei på deg"


async def test_non_ascii_and_multiline_subject_is_encoded_and_decodes_back(
    provider: SmtpEmailProvider, smtp_server: SmtpServer
) -> None:
    subject = "Vedtak om søknad: årsoppgjør for Ærlig Øl AS\nandre linje " + "lang " * 20
    assert (await provider.send(message(subject=subject))).result == "Delivered"
    [received] = smtp_server.handler.messages
    raw_subject = received.raw.split(b"\r\n\r\n", 1)[0]
    assert b"=?utf-8?" in raw_subject.lower()  # RFC 2047 encoded words on the wire, never raw 8-bit
    assert received.message["Subject"] == " ".join(subject.splitlines())
    assert received.message.get_content().strip() == "Hei på deg"


async def test_html_message(provider: SmtpEmailProvider, smtp_server: SmtpServer) -> None:
    body = "<html><body><p>Hei <b>deg</b></p></body></html>"
    assert (await provider.send(message(body=body, content_type="Html"))).result == "Delivered"
    [received] = smtp_server.handler.messages
    assert received.message.get_content_type() == "text/html"
    assert received.message.get_content().strip() == body


async def test_attachments_arrive(provider: SmtpEmailProvider, smtp_server: SmtpServer) -> None:
    pdf = b"%PDF-1.4 " + bytes(range(256)) * 20
    attachments = (
        Attachment("vedtak.pdf", "application/pdf", pdf),
        Attachment("data.csv", "text/csv", b"a;b\n1;2\n"),
        Attachment("noname", "not-a-mime-type", b"\x00\x01"),
    )
    sent = message(body="<p>see attached</p>", content_type="Html", attachments=attachments)
    assert (await provider.send(sent)).result == "Delivered"
    [received] = smtp_server.handler.messages
    mime = received.message
    assert mime.get_content_type() == "multipart/mixed"
    body = mime.get_body(preferencelist=("html", "plain"))
    assert body is not None
    assert body.get_content_type() == "text/html"
    parts = list(mime.iter_attachments())
    assert [(p.get_filename(), p.get_content_type()) for p in parts] == [
        ("vedtak.pdf", "application/pdf"),
        ("data.csv", "text/csv"),
        ("noname", "application/octet-stream"),
    ]
    assert parts[0].get_payload(decode=True) == pdf
    assert parts[1].get_payload(decode=True) == b"a;b\n1;2\n"
    assert parts[2].get_payload(decode=True) == b"\x00\x01"


async def test_outbox_records_smtp_sends(provider: SmtpEmailProvider, smtp_server: SmtpServer) -> None:
    smtp_server.handler.rcpt_replies["unknown@example.com"] = "550 5.1.1 User unknown"
    await provider.send(message())
    await provider.send(message("unknown@example.com"))
    outbox = provider._outbox
    assert outbox is not None
    entries = outbox.read(10)
    assert [(e["provider"], e["to"], e["result"]) for e in entries] == [
        ("smtp", "someone@example.com", "Delivered"),
        ("smtp", "unknown@example.com", "Failed"),
    ]


# -- connection reuse ---------------------------------------------------------------------------------


async def test_sequential_sends_reuse_one_connection(
    provider: SmtpEmailProvider, smtp_server: SmtpServer
) -> None:
    for _ in range(5):
        assert (await provider.send(message())).result == "Delivered"
    assert smtp_server.handler.connections == 1
    assert len(smtp_server.handler.messages) == 5


async def test_concurrent_sends_are_bounded_by_the_pool(
    provider: SmtpEmailProvider, smtp_server: SmtpServer
) -> None:
    outcomes = await asyncio.gather(*(provider.send(message(f"user{n}@example.com")) for n in range(30)))
    assert all(o.result == "Delivered" for o in outcomes)
    assert len(smtp_server.handler.messages) == 30
    assert 1 <= smtp_server.handler.connections <= 2
    assert provider.open_connections <= 2


async def test_reconnects_after_the_server_drops_connections(
    provider: SmtpEmailProvider, smtp_server: SmtpServer
) -> None:
    assert (await provider.send(message())).result == "Delivered"
    smtp_server.drop_connections()
    await asyncio.sleep(0.05)
    assert (await provider.send(message())).result == "Delivered"
    assert smtp_server.handler.connections == 2


async def test_connection_closed_by_the_server_just_before_a_send_is_replaced(
    provider: SmtpEmailProvider, smtp_server: SmtpServer
) -> None:
    assert (await provider.send(message())).result == "Delivered"
    smtp_server.drop_connections()  # no pause: the client may only notice when it sends
    assert (await provider.send(message())).result == "Delivered"
    assert smtp_server.handler.connections == 2
    assert len(smtp_server.handler.messages) == 2


async def test_stale_pooled_connection_is_checked_before_reuse(
    smtp_server: SmtpServer,
) -> None:
    smtp = SmtpEmailProvider("127.0.0.1", smtp_server.port, timeout=5, idle_check_after=0.0)
    try:
        assert (await smtp.send(message())).result == "Delivered"
        assert (await smtp.send(message())).result == "Delivered"  # NOOP, then reuse
        assert smtp_server.handler.connections == 1
        smtp_server.drop_connections()
        assert (await smtp.send(message())).result == "Delivered"
        assert smtp_server.handler.connections == 2
    finally:
        await smtp.close()


async def test_refused_recipient_keeps_the_connection(
    provider: SmtpEmailProvider, smtp_server: SmtpServer
) -> None:
    smtp_server.handler.rcpt_replies["unknown@example.com"] = "550 5.1.1 User unknown"
    assert (await provider.send(message("unknown@example.com"))).result == "Failed"
    assert (await provider.send(message())).result == "Delivered"
    assert smtp_server.handler.connections == 1


# -- failure mapping ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "result", "transient", "retry_after"),
    [
        ("450 4.2.0 Mailbox busy", "Failed_TransientError", True, None),
        ("452 4.2.2 Mailbox full", "Failed_TransientError", True, None),
        ("421 4.7.0 Too many connections, slow down", "Failed_TransientError", True, 60.0),
        ("451 4.7.1 Rate limit exceeded, retry after 30 seconds", "Failed_TransientError", True, 30.0),
        ("550 5.1.1 <unknown@example.com>: Recipient address rejected", "Failed", False, None),
        ("554 5.7.1 Relay access denied", "Failed", False, None),
        ("553 5.1.3 Bad recipient address syntax", "Failed_InvalidEmailFormat", False, None),
        ("501 5.1.3 Invalid address", "Failed_InvalidEmailFormat", False, None),
        ("553 5.7.1 Sorry, relaying denied", "Failed", False, None),
    ],
)
async def test_rcpt_replies(
    provider: SmtpEmailProvider,
    smtp_server: SmtpServer,
    reply: str,
    result: str,
    transient: bool,
    retry_after: float | None,
) -> None:
    smtp_server.handler.rcpt_replies["unknown@example.com"] = reply
    outcome = await provider.send(message("unknown@example.com"))
    assert (outcome.result, outcome.transient, outcome.retry_after) == (result, transient, retry_after)
    assert outcome.reference is None
    assert outcome.detail is not None
    assert "unknown@example.com" not in outcome.detail
    assert smtp_server.handler.messages == []
    # The provider is still usable afterwards (a 421 closed the connection: a new one is opened).
    assert (await provider.send(message())).result == "Delivered"


@pytest.mark.parametrize(
    ("reply", "result", "transient"),
    [
        ("451 4.3.0 Temporary failure", "Failed_TransientError", True),
        ("554 5.6.0 Message content rejected", "Failed", False),
        ("552 5.3.4 Message size exceeds fixed limit", "Failed_PayloadTooLarge", False),
    ],
)
async def test_data_replies(
    provider: SmtpEmailProvider, smtp_server: SmtpServer, reply: str, result: str, transient: bool
) -> None:
    smtp_server.handler.data_reply = reply
    outcome = await provider.send(message())
    assert (outcome.result, outcome.transient) == (result, transient)


async def test_server_down_is_transient(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    smtp = SmtpEmailProvider("127.0.0.1", port, timeout=2)
    try:
        outcome = await smtp.send(message())
        assert outcome.transient
        assert outcome.result == "Failed_TransientError"
        assert smtp.open_connections == 0
    finally:
        await smtp.close()


async def test_unsendable_recipient_is_invalid_format(
    provider: SmtpEmailProvider, smtp_server: SmtpServer
) -> None:
    for bad in ("two words@example.com", "<x>@example.com", "no-at-sign", "a@b, c@d", "Name <n@example.com>"):
        outcome = await provider.send(message(bad))
        assert outcome.result == "Failed_InvalidEmailFormat", bad
    assert smtp_server.handler.connections == 0


async def test_send_after_close_is_transient(smtp_server: SmtpServer) -> None:
    smtp = SmtpEmailProvider("127.0.0.1", smtp_server.port)
    await smtp.close()
    assert (await smtp.send(message())).transient


def test_classify_and_redact() -> None:
    assert classify_reply(550, "5.1.1 user unknown", "MAIL").result == "Failed"
    assert classify_reply(501, "5.1.3 bad sender", "MAIL").result == "Failed"  # only RCPT is the recipient
    assert (
        redact("550 <a.b@c.example> and x@y rejected\r\nmore")
        == "550 <<redacted>> and <redacted> rejected more"
    )


# -- TLS and authentication ---------------------------------------------------------------------------


@dataclass
class Certificate:
    server: ssl.SSLContext
    client: ssl.SSLContext


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    cert_path, key_path = server_files(
        tmp_path_factory.mktemp("tls"), "localhost", ("localhost", "127.0.0.1")
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert_path, key_path)
    client = ssl.create_default_context(cafile=str(cert_path))
    return Certificate(server=server, client=client)


def _authenticator(
    server: SMTPServerProtocol, session: Session, envelope: Envelope, mechanism: str, auth_data: object
) -> AuthResult:
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == b"user"
        and auth_data.password == b"secret"
    )
    return AuthResult(success=ok, handled=False)


async def test_starttls_with_login(start_server: ServerFactory, certificate: Certificate) -> None:
    server: SmtpServer = await start_server(tls_context=certificate.server, authenticator=_authenticator)
    smtp = SmtpEmailProvider(
        "127.0.0.1",
        server.port,
        username="user",
        password="secret",
        tls="starttls",
        tls_context=certificate.client,
        timeout=5,
    )
    try:
        assert (await smtp.send(message())).result == "Delivered"
        assert (await smtp.send(message())).result == "Delivered"
        assert server.handler.connections == 1
        assert len(server.handler.messages) == 2
        assert "secret" not in repr(smtp)
    finally:
        await smtp.close()


async def test_wrong_password_is_transient_and_pauses(
    start_server: ServerFactory, certificate: Certificate
) -> None:
    server: SmtpServer = await start_server(tls_context=certificate.server, authenticator=_authenticator)
    smtp = SmtpEmailProvider(
        "127.0.0.1",
        server.port,
        username="user",
        password="wrong",
        tls="starttls",
        tls_context=certificate.client,
        timeout=5,
    )
    try:
        outcome = await smtp.send(message())
        assert outcome.transient
        assert outcome.retry_after == 60.0
        assert outcome.detail is not None
        assert "wrong" not in outcome.detail
        assert server.handler.messages == []
    finally:
        await smtp.close()


async def test_untrusted_certificate_is_transient(
    start_server: ServerFactory, certificate: Certificate
) -> None:
    server: SmtpServer = await start_server(tls_context=certificate.server)
    smtp = SmtpEmailProvider("127.0.0.1", server.port, tls="starttls", timeout=5)  # system trust store
    try:
        assert (await smtp.send(message())).transient
    finally:
        await smtp.close()


async def test_implicit_tls(start_server: ServerFactory, certificate: Certificate) -> None:
    server: SmtpServer = await start_server(implicit_tls=certificate.server)
    smtp = SmtpEmailProvider("127.0.0.1", server.port, tls="tls", tls_context=certificate.client, timeout=5)
    try:
        assert (await smtp.send(message())).result == "Delivered"
        assert len(server.handler.messages) == 1
    finally:
        await smtp.close()


# --- the outbox: off for SMTP unless asked for (docs/compatibility.md, "Stored copies") ---


@pytest.mark.parametrize(("enabled", "smtp_copies"), [(None, 0), (True, 1), (False, 0)])
async def test_smtp_writes_copies_to_the_outbox_only_when_asked(
    smtp_server: SmtpServer, tmp_path: Path, enabled: bool | None, smtp_copies: int
) -> None:
    """By default only the simulated provider (here the SMS one) writes copies; `outbox_enabled=true`
    adds SMTP, `false` turns the outbox off for every provider."""
    from altinn_notifications.bootstrap import build_email_provider, build_outbox, build_sms_provider
    from altinn_notifications.config import Settings
    from altinn_notifications.providers.base import SmsMessage

    settings = Settings(
        database_url=None,
        data_dir=tmp_path,
        email_provider="smtp",
        smtp_host="127.0.0.1",
        smtp_port=smtp_server.port,
        outbox_enabled=enabled,
    )
    outbox = build_outbox(settings)
    smtp = build_email_provider(settings, outbox)
    sms = build_sms_provider(settings, outbox)
    try:
        await smtp.send(EmailMessage(uuid4(), "noreply@altinn.no", "someone@example.no", "Subject", "Body"))
        await sms.send(SmsMessage(uuid4(), "Altinn", "+4799999999", "Text"))
    finally:
        await smtp.close()
        await sms.close()
        if outbox is not None:
            await outbox.close()
    assert len(smtp_server.handler.messages) == 1
    entries = Outbox(tmp_path).read(10)
    assert [e["channel"] for e in entries].count("email") == smtp_copies
    assert [e["channel"] for e in entries].count("sms") == (0 if enabled is False else 1)
    assert (outbox is None) == (enabled is False)

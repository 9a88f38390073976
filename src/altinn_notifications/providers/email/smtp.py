"""Email over SMTP (aiosmtplib), for self-hosting with any mail relay.

Result decision: SMTP has no delivery reports. Once the relay has accepted the message (a 2xx reply to
the end of DATA), that hand-off is the last outcome this service will ever learn, so the send result is
`Delivered` (final; counted as success) rather than `Succeeded` (which would wait for a report that never
comes and end in `Failed_TTL` after 48 hours). Bounces arrive later as mail to the envelope sender and are
outside this service. The reference is the message's `Message-ID` header, `<notification-id@from-domain>`:
the same for every attempt of one notification, so a relay that deduplicates on it can drop a resend made
after an ambiguous failure (connection lost after DATA).

Mapping of failures to results:

| what happened                                                     | outcome                                |
|-------------------------------------------------------------------|----------------------------------------|
| 2xx after DATA                                                    | `Delivered`, reference = Message-ID    |
| RCPT refused with 501, enhanced code 5.1.3, or a 553 that says    | `Failed_InvalidEmailFormat`            |
| "syntax"/"invalid"/"malformed" (not "relay"); unsendable address  |                                        |
| DATA refused with 552 and size wording (or 5.3.4)                 | `Failed_PayloadTooLarge`               |
| any other 5xx reply to MAIL, RCPT or DATA                         | `Failed`                               |
| 421/450/451 with "rate", "too many" or "throttl" wording          | transient, `retry_after` = 60 s (or    |
|                                                                   | "retry after N seconds" when stated)   |
| other 4xx reply, connection refused/lost, timeouts                | transient                              |
| greeting/EHLO/STARTTLS refused when connecting                    | transient                              |
| authentication refused                                            | transient, `retry_after` = 60 s (a     |
|                                                                   | configuration error must not fail mail)|

Connections: at most `max_connections` persistent `aiosmtplib.SMTP` clients. A send takes an idle
connection (most recently used first) or opens a new one; after the send the connection goes back to the
pool unless it was lost. aiosmtplib resets the envelope with RSET after a refused command. A connection
idle for more than `idle_check_after` seconds is checked with NOOP before reuse; a reused connection that
turns out to be closed by the server is replaced and the message sent once more on a fresh connection.

Logs and `SendOutcome.detail` never contain addresses (server replies are redacted), bodies or the password.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.message
import email.utils
import re
import socket
import ssl
from email.header import Header
from email.mime.text import MIMEText
from typing import Literal

import aiosmtplib
import structlog
from aiosmtplib.email import parse_address

from altinn_notifications.providers.base import EmailMessage, ReportSink, SendOutcome
from altinn_notifications.providers.outbox import Outbox

log = structlog.get_logger(__name__)

TlsMode = Literal["none", "starttls", "tls"]

#: Pause of the whole channel after a rate-limit reply without a stated delay (docs/compatibility.md C12: 60 s).
RATE_LIMIT_DEFAULT_SECONDS = 60.0

_TRANSIENT = "Failed_TransientError"
_RATE_WORDS = ("rate", "too many", "throttl")
_RATE_CODES = frozenset({421, 450, 451})
_EMAIL_LIKE = re.compile(r"[^\s<>()\[\]:;,\"']*@[^\s<>()\[\]:;,\"']*")
_RETRY_AFTER = re.compile(r"(?:retry|try again)\D{0,20}?(\d{1,5})\s*(?:s\b|sec)", re.IGNORECASE)
_DOMAIN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")


def redact(text: str, limit: int = 200) -> str:
    """A server reply fit for logs: anything address-like replaced, newlines flattened, truncated."""
    flat = " ".join(_EMAIL_LIKE.sub("<redacted>", text).split())
    return flat[:limit]


def _retry_after(text: str) -> float:
    match = _RETRY_AFTER.search(text)
    if match is not None:
        seconds = float(match.group(1))
        if seconds > 0:
            return seconds
    return RATE_LIMIT_DEFAULT_SECONDS


def _is_rate_limit(code: int, text: str) -> bool:
    lowered = text.lower()
    return code in _RATE_CODES and any(word in lowered for word in _RATE_WORDS)


def _is_address_syntax_error(code: int, text: str) -> bool:
    lowered = text.lower()
    if "invalid format for email address" in lowered or "5.1.3" in lowered:
        return True
    if code == 501:
        return True
    return (
        code == 553
        and "relay" not in lowered
        and any(w in lowered for w in ("syntax", "invalid", "malformed"))
    )


def classify_reply(code: int, text: str, stage: Literal["MAIL", "RCPT", "DATA", "SMTP"]) -> SendOutcome:
    """The outcome of a refused SMTP command (see the module docstring's table)."""
    detail = f"smtp {code} at {stage}: {redact(text)}"
    if _is_rate_limit(code, text):
        return SendOutcome(result=_TRANSIENT, transient=True, retry_after=_retry_after(text), detail=detail)
    if 400 <= code < 500 or code < 200:
        return SendOutcome(result=_TRANSIENT, transient=True, detail=detail)
    if code >= 500:
        if stage == "RCPT" and _is_address_syntax_error(code, text):
            return SendOutcome(result="Failed_InvalidEmailFormat", detail=detail)
        lowered = text.lower()
        if stage == "DATA" and (
            "5.3.4" in lowered or (code == 552 and any(w in lowered for w in ("size", "large", "exceed")))
        ):
            return SendOutcome(result="Failed_PayloadTooLarge", detail=detail)
        return SendOutcome(result="Failed", detail=detail)
    # A 2xx/3xx reply raised as an error is a protocol confusion: retry later.
    return SendOutcome(result=_TRANSIENT, transient=True, detail=detail)


def _is_bare_address(address: str) -> bool:
    """True for a plain `local@domain` that goes on the SMTP command line exactly as given."""
    try:
        parsed = parse_address(address)
    except ValueError:
        return False
    local, at, domain = parsed.rpartition("@")
    return parsed == address and bool(at) and bool(local) and bool(domain)


def _message_id(message: EmailMessage) -> str:
    domain = message.from_address.strip().rpartition("@")[2]
    if not _DOMAIN.match(domain):
        domain = "localhost"
    return f"<{message.notification_id}@{domain}>"


def _split_mime_type(mime_type: str) -> tuple[str, str]:
    maintype, _, subtype = mime_type.strip().lower().partition("/")
    subtype = subtype.split(";", 1)[0].strip()
    if not maintype or not subtype or maintype in ("multipart", "message"):
        return "application", "octet-stream"
    return maintype, subtype


def build_mime_message(message: EmailMessage, message_id: str) -> email.message.Message:
    """A MIME message: From, To, Subject, Date, Message-ID, X-Notification-Id, body, attachments."""
    if not message.attachments:
        return _build_plain(message, message_id)
    mime = email.message.EmailMessage()
    mime["From"] = message.from_address.strip()
    mime["To"] = message.to_address.strip()
    mime["Subject"] = " ".join(message.subject.splitlines())
    mime["Date"] = email.utils.formatdate(usegmt=True)
    mime["Message-ID"] = message_id
    mime["X-Notification-Id"] = str(message.notification_id)
    subtype = "html" if str(message.content_type).lower() == "html" else "plain"
    mime.set_content(message.body, subtype=subtype)
    for attachment in message.attachments:
        maintype, sub = _split_mime_type(attachment.mime_type)
        mime.add_attachment(attachment.content, maintype=maintype, subtype=sub, filename=attachment.filename)
    return mime


def _build_plain(message: EmailMessage, message_id: str) -> email.message.Message:
    """compat32 (no header-registry parsing): about 6x cheaper to build than the default policy."""
    subtype = "html" if str(message.content_type).lower() == "html" else "plain"
    mime = MIMEText(message.body, subtype, "utf-8")
    subject = " ".join(message.subject.splitlines())
    mime["From"] = message.from_address.strip()
    mime["To"] = message.to_address.strip()
    # A Header object, not its encoded string: compat32 refolds a pre-encoded string with a stray space.
    mime["Subject"] = subject if subject.isascii() else Header(subject, "utf-8")  # type: ignore[assignment]
    mime["Date"] = email.utils.formatdate(usegmt=True)
    mime["Message-ID"] = message_id
    mime["X-Notification-Id"] = str(message.notification_id)
    return mime


class _ConnectFailed(Exception):
    def __init__(self, outcome: SendOutcome) -> None:
        super().__init__(outcome.detail)
        self.outcome = outcome


class SmtpEmailProvider:
    """Email provider over SMTP with a small pool of persistent connections (see module docstring)."""

    name = "smtp"

    def __init__(
        self,
        host: str,
        port: int,
        *,
        username: str | None = None,
        password: str | None = None,
        tls: TlsMode = "none",
        timeout: float = 30.0,
        max_connections: int = 10,
        outbox: Outbox | None = None,
        local_hostname: str | None = None,
        tls_context: ssl.SSLContext | None = None,
        validate_certs: bool = True,
        idle_check_after: float = 10.0,
    ) -> None:
        if tls not in ("none", "starttls", "tls"):
            raise ValueError("tls must be one of none, starttls, tls")
        if max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        self._host = host
        self._port = port
        self._username = username
        self._password = password
        self._tls: TlsMode = tls
        self._timeout = timeout
        self._max_connections = max_connections
        self._outbox = outbox
        self._local_hostname = local_hostname
        self._tls_context = tls_context
        self._validate_certs = validate_certs
        self._idle_check_after = idle_check_after
        self._slots = asyncio.Semaphore(max_connections)
        self._idle: list[tuple[aiosmtplib.SMTP, float]] = []
        self._busy: set[aiosmtplib.SMTP] = set()
        self._sink: ReportSink | None = None
        self._closed = False

    def __repr__(self) -> str:  # never show the password
        return f"SmtpEmailProvider(host={self._host!r}, port={self._port}, tls={self._tls!r})"

    @property
    def open_connections(self) -> int:
        return len(self._busy) + len(self._idle)

    async def start(self, sink: ReportSink) -> None:
        """SMTP produces no delivery reports; the sink is only kept."""
        self._sink = sink
        self._closed = False

    async def send(self, message: EmailMessage) -> SendOutcome:
        outcome = await self._send(message)
        if outcome.result != "Delivered":
            log.info(
                "smtp send not delivered",
                notification_id=str(message.notification_id),
                result=outcome.result,
                transient=outcome.transient,
                detail=outcome.detail,
            )
        if self._outbox is not None:
            self._outbox.record_email(
                provider=self.name,
                notification_id=message.notification_id,
                to=message.to_address,
                from_=message.from_address,
                subject=message.subject,
                body=message.body,
                result=outcome.result,
                reference=outcome.reference,
                attachments=message.attachments,
                content_type=message.content_type,
            )
        return outcome

    async def _send(self, message: EmailMessage) -> SendOutcome:
        if self._closed:
            return SendOutcome(result=_TRANSIENT, transient=True, detail="smtp provider closed")
        recipient = message.to_address.strip()
        sender = message.from_address.strip()
        if not _is_bare_address(recipient):
            return SendOutcome(result="Failed_InvalidEmailFormat", detail="recipient not sendable over SMTP")
        if not _is_bare_address(sender):
            return SendOutcome(result="Failed", detail="sender not sendable over SMTP")
        message_id = _message_id(message)
        try:
            mime = build_mime_message(message, message_id)
        except (ValueError, TypeError) as exc:
            return SendOutcome(result="Failed", detail=f"message could not be built: {type(exc).__name__}")

        async with self._slots:
            for attempt in (1, 2):
                try:
                    client, reused = await self._checkout()
                except _ConnectFailed as failed:
                    return failed.outcome
                try:
                    await client.send_message(mime, sender=sender, recipients=[recipient])
                except aiosmtplib.SMTPServerDisconnected:
                    self._discard(client)
                    if reused and attempt == 1:
                        continue  # a stale pooled connection: once more on a fresh one
                    return SendOutcome(result=_TRANSIENT, transient=True, detail="smtp connection lost")
                except aiosmtplib.SMTPRecipientsRefused as exc:
                    self._checkin(client)
                    if not exc.recipients:
                        return SendOutcome(result="Failed", detail="smtp recipient refused")
                    first = exc.recipients[0]
                    return classify_reply(first.code, first.message, "RCPT")
                except aiosmtplib.SMTPSenderRefused as exc:
                    self._checkin(client)
                    return classify_reply(exc.code, exc.message, "MAIL")
                except aiosmtplib.SMTPDataError as exc:
                    self._checkin(client)
                    return classify_reply(exc.code, exc.message, "DATA")
                except aiosmtplib.SMTPNotSupported as exc:
                    self._checkin(client)
                    return SendOutcome(result="Failed", detail=f"smtp not supported: {redact(exc.message)}")
                except aiosmtplib.SMTPResponseException as exc:
                    self._discard(client)
                    return classify_reply(exc.code, exc.message, "SMTP")
                except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                    self._discard(client)
                    return SendOutcome(result=_TRANSIENT, transient=True, detail=f"smtp {type(exc).__name__}")
                except ValueError:
                    # aiosmtplib refuses addresses it cannot put on a command line (checked above).
                    self._checkin(client)
                    return SendOutcome(result="Failed", detail="address not sendable over SMTP")
                except BaseException:
                    self._discard(client)
                    raise
                self._checkin(client)
                return SendOutcome(result="Delivered", reference=message_id)
        return SendOutcome(
            result=_TRANSIENT, transient=True, detail="smtp connection lost"
        )  # pragma: no cover

    # -- the pool ------------------------------------------------------------------------------------

    async def _checkout(self) -> tuple[aiosmtplib.SMTP, bool]:
        """An idle connection (checked with NOOP when idle long) or a new one. Call holding a slot."""
        loop = asyncio.get_running_loop()
        while self._idle:
            client, last_used = self._idle.pop()
            if not client.is_connected:
                self._discard(client)
                continue
            if loop.time() - last_used > self._idle_check_after:
                try:
                    await client.noop()
                except (aiosmtplib.SMTPException, OSError, TimeoutError):
                    self._discard(client)
                    continue
                except BaseException:
                    self._discard(client)
                    raise
            self._busy.add(client)
            return client, True
        client = await self._connect()
        self._busy.add(client)
        return client, False

    async def _connect(self) -> aiosmtplib.SMTP:
        if self._local_hostname is None:
            self._local_hostname = await asyncio.to_thread(socket.getfqdn)
        client = aiosmtplib.SMTP(
            hostname=self._host,
            port=self._port,
            username=self._username,
            password=self._password,
            local_hostname=self._local_hostname,
            timeout=self._timeout,
            use_tls=self._tls == "tls",
            start_tls=self._tls == "starttls",
            validate_certs=self._validate_certs,
            tls_context=self._tls_context,
        )
        try:
            await client.connect()
        except aiosmtplib.SMTPAuthenticationError as exc:
            client.close()
            log.error("smtp authentication failed; check the SMTP username and password", code=exc.code)
            raise _ConnectFailed(
                SendOutcome(
                    result=_TRANSIENT,
                    transient=True,
                    retry_after=RATE_LIMIT_DEFAULT_SECONDS,
                    detail=f"smtp authentication failed ({exc.code})",
                )
            ) from None
        except aiosmtplib.SMTPResponseException as exc:
            client.close()
            detail = f"smtp {exc.code} when connecting: {redact(exc.message)}"
            retry_after = _retry_after(exc.message) if _is_rate_limit(exc.code, exc.message) else None
            raise _ConnectFailed(
                SendOutcome(result=_TRANSIENT, transient=True, retry_after=retry_after, detail=detail)
            ) from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError, ValueError) as exc:
            client.close()
            log.warning("smtp connect failed", host=self._host, port=self._port, error=type(exc).__name__)
            raise _ConnectFailed(
                SendOutcome(
                    result=_TRANSIENT, transient=True, detail=f"smtp connect failed: {type(exc).__name__}"
                )
            ) from None
        except BaseException:
            client.close()
            raise
        return client

    def _checkin(self, client: aiosmtplib.SMTP) -> None:
        self._busy.discard(client)
        if self._closed or not client.is_connected:
            client.close()
            return
        self._idle.append((client, asyncio.get_running_loop().time()))

    def _discard(self, client: aiosmtplib.SMTP) -> None:
        self._busy.discard(client)
        client.close()

    async def close(self) -> None:
        """QUIT idle connections; connections still sending are closed hard (those sends turn transient)."""
        self._closed = True
        idle, self._idle = self._idle, []
        for client, _ in idle:
            if client.is_connected:
                with contextlib.suppress(aiosmtplib.SMTPException, OSError, TimeoutError):
                    await asyncio.wait_for(client.quit(), timeout=min(self._timeout, 5.0))
            client.close()
        busy, self._busy = self._busy, set()
        for client in busy:
            client.close()

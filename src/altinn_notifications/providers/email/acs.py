"""Email over Azure Communication Services (ACS), Email REST API `2023-03-31`, over httpx.

Why not the `azure-communication-email` SDK: its HMAC policy would accept an `http://` loopback endpoint,
but its `begin_send` is a long-running-operation poller that keeps the polling state in process memory,
while here the operation id is stored in the database and polled by any worker (crash-safe, see below).
It would also bring azure-core and an aiohttp transport next to the httpx used for every other outbound
call. The wire format is small: one signed POST and one signed GET.

Send (docs/compatibility.md C12): `POST {endpoint}/emails:send?api-version=2023-03-31` with `senderAddress`, one `to`
recipient, `content.subject` and `content.plainText` or `content.html`, and `attachments` (base64) when the
message has any. The `Operation-Id` header is the notification id, so every attempt of one notification
names the same ACS operation and a resend after an ambiguous failure (connection lost after ACS accepted)
refers to the operation that already exists instead of starting a second one (a `409` for an existing
operation id is therefore read as "already accepted": poll it). A `202` answers the operation id: the send
outcome is `Sending` with that reference and `poll_after` = 8 s.

Status poll (`poll`, called from a worker loop for rows still `Sending` with an operation id):
`GET {endpoint}/emails/operations/{id}?api-version=2023-03-31`. `Succeeded` → `Succeeded` (a delivery
report follows through the Event Grid webhook); `Failed`/`Canceled` → `Failed` (or the error mapping below
when ACS names an error); `NotStarted`/`Running` → still `Sending`, poll again in 8 s.

Authentication: ACS access-key HMAC-SHA256 request signing. Each request carries `x-ms-date` (RFC 1123),
`x-ms-content-sha256` (base64 SHA-256 of the body) and `Authorization: HMAC-SHA256
SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=<sig>`, where `sig` is the base64 HMAC-SHA256,
keyed with the base64-decoded access key, of `VERB\\n<path and query>\\n<x-ms-date>;<host>;<content hash>`.

Error mapping (docs/compatibility.md C12), for the send and the poll alike:

| ACS answer                                                  | outcome                                       |
|-------------------------------------------------------------|-----------------------------------------------|
| 429 / error code `TooManyRequests`                          | transient, `retry_after` from `Retry-After`   |
|                                                             | (seconds or HTTP date; else "retry after N    |
|                                                             | seconds" in the message; else 60 s): pauses   |
|                                                             | the email channel                             |
| error code `EmailDroppedAllRecipientsSuppressed`            | `Failed_SupressedRecipient`                   |
| message contains `Invalid format for email address`         | `Failed_InvalidEmailFormat`                   |
| 413                                                         | `Failed_PayloadTooLarge`                      |
| 5xx, timeout, connection error (no status)                  | transient (dispatch back-off)                 |
| anything else                                               | `Failed`                                      |

Logs and `SendOutcome.detail` carry the HTTP status and ACS error code only: never an address, a body,
the access key or a signature.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx
import structlog

from altinn_notifications.config import AcsConnection, parse_connection_string
from altinn_notifications.providers.base import (
    DeliveryReport,
    EmailMessage,
    RejectedReport,
    ReportSink,
    SendOutcome,
)
from altinn_notifications.providers.http import SpreadClients

log = structlog.get_logger(__name__)

API_VERSION = "2023-03-31"
#: How often an accepted operation is asked for its status (the reference's 8 000 ms).
POLL_INTERVAL_SECONDS = 8.0
#: Requests in flight per worker: at 200 ms per request, 500 keep 2,500 sends/s going (docs/benchmarks.md).
DEFAULT_MAX_IN_FLIGHT = 500
#: Pause of the email channel after a 429 without a usable `Retry-After` (`IntermittentErrorDelay`).
RATE_LIMIT_DEFAULT_SECONDS = 60.0

_TRANSIENT = "Failed_TransientError"
_RETRY_AFTER_TEXT = re.compile(r"retry after (\d{1,6})\s*sec", re.IGNORECASE)
_RUNNING = frozenset({"notstarted", "running"})

EVENT_VALIDATION = "Microsoft.EventGrid.SubscriptionValidationEvent"
EVENT_DELIVERY_REPORT = "Microsoft.Communication.EmailDeliveryReportReceived"

#: Delivery-report `status` → result (docs/compatibility.md C12); anything else is an invalid report.
REPORT_STATUS: Mapping[str, str] = {
    "delivered": "Delivered",
    "bounced": "Failed_Bounced",
    "expanded": "Failed",
    "failed": "Failed",
    "filteredspam": "Failed_FilteredSpam",
    "quarantined": "Failed_Quarantined",
    "suppressed": "Failed_SupressedRecipient",
}


def content_hash(body: bytes) -> str:
    return base64.b64encode(hashlib.sha256(body).digest()).decode("ascii")


def string_to_sign(method: str, path_and_query: str, date: str, host: str, body_hash: str) -> str:
    return f"{method.upper()}\n{path_and_query}\n{date};{host};{body_hash}"


def signature(key: bytes, to_sign: str) -> str:
    return base64.b64encode(hmac.new(key, to_sign.encode("utf-8"), hashlib.sha256).digest()).decode("ascii")


def sign_request(request: httpx.Request, key: bytes, *, date: str | None = None) -> None:
    """Add ACS's HMAC-SHA256 authentication headers to a built request (body already set)."""
    body_hash = content_hash(request.content)
    date = date or email.utils.formatdate(usegmt=True)
    host = request.url.netloc.decode("ascii")
    path_and_query = request.url.raw_path.decode("ascii")
    sig = signature(key, string_to_sign(request.method, path_and_query, date, host, body_hash))
    request.headers["x-ms-date"] = date
    request.headers["x-ms-content-sha256"] = body_hash
    request.headers["Authorization"] = (
        f"HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature={sig}"
    )


def parse_retry_after(headers: Mapping[str, str], message: str = "", now: datetime | None = None) -> float:
    """Seconds to wait: `Retry-After` seconds or HTTP date, `retry-after-ms`, "retry after N seconds" in the
    message, else 60 s. Never less than one second."""
    value = headers.get("retry-after")
    if value:
        value = value.strip()
        try:
            return max(1.0, float(value))
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError):
                when = None
            if when is not None:
                if when.tzinfo is None:
                    when = when.replace(tzinfo=UTC)
                return max(1.0, (when - (now or datetime.now(UTC))).total_seconds())
    for name in ("retry-after-ms", "x-ms-retry-after-ms"):
        ms = headers.get(name)
        if ms:
            try:
                return max(1.0, float(ms) / 1000.0)
            except ValueError:
                pass
    match = _RETRY_AFTER_TEXT.search(message or "")
    if match:
        return max(1.0, float(match.group(1)))
    return RATE_LIMIT_DEFAULT_SECONDS


def _error_of(body: Any) -> tuple[str, str]:
    """(code, message) of an ACS error body `{"error": {"code", "message"}}`; empty when absent."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return "", ""
    return str(error.get("code") or ""), str(error.get("message") or "")


def classify_error(
    status: int | None, code: str, message: str, headers: Mapping[str, str] | None = None
) -> SendOutcome:
    """docs/compatibility.md C12 send-time mapping (see the module docstring's table)."""
    detail = f"acs {status if status is not None else 'no response'} {code}".rstrip()
    if status == 429 or code == "TooManyRequests":
        return SendOutcome(
            result=_TRANSIENT,
            transient=True,
            retry_after=parse_retry_after(headers or {}, message),
            detail=detail,
        )
    if code == "EmailDroppedAllRecipientsSuppressed":
        return SendOutcome(result="Failed_SupressedRecipient", detail=detail)
    if "Invalid format for email address" in message:
        return SendOutcome(result="Failed_InvalidEmailFormat", detail=detail)
    if status == 413:
        return SendOutcome(result="Failed_PayloadTooLarge", detail=detail)
    if status is None or status >= 500:
        return SendOutcome(result=_TRANSIENT, transient=True, detail=detail)
    return SendOutcome(result="Failed", detail=detail)


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


class AcsEmailProvider:
    """ACS Email over its REST API (see the module docstring). Delivery reports arrive through the Event
    Grid webhook (`reports` package), not through `start`'s sink."""

    name = "acs"

    def __init__(
        self,
        connection: AcsConnection | str,
        *,
        timeout: float = 30.0,
        poll_interval: float = POLL_INTERVAL_SECONDS,
        http: httpx.AsyncClient | None = None,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
    ) -> None:
        self._connection = (
            connection if isinstance(connection, AcsConnection) else parse_connection_string(connection)
        )
        self.poll_interval = poll_interval
        #: Sends in flight per worker, and as many status polls (dispatch reads it).
        self.max_in_flight = max(1, max_in_flight)
        self._own_http = http is None
        # A connection for every send and every poll in flight (no request waits for the pool), spread
        # over small clients (see `providers.http`).
        self._http: httpx.AsyncClient | SpreadClients = http or SpreadClients(
            2 * self.max_in_flight, timeout=timeout
        )

    def __repr__(self) -> str:  # never show the key
        return f"AcsEmailProvider(endpoint={self._connection.endpoint!r})"

    async def start(self, sink: ReportSink) -> None:
        return None

    async def send(self, message: EmailMessage) -> SendOutcome:
        content_key = "html" if str(message.content_type).lower() == "html" else "plainText"
        payload: dict[str, Any] = {
            "senderAddress": message.from_address.strip(),
            "recipients": {"to": [{"address": message.to_address.strip()}]},
            "content": {"subject": message.subject, content_key: message.body},
        }
        if message.attachments:
            payload["attachments"] = [
                {
                    "name": a.filename,
                    "contentType": a.mime_type,
                    "contentInBase64": base64.b64encode(a.content).decode("ascii"),
                }
                for a in message.attachments
            ]
        request = self._http.build_request(
            "POST",
            f"{self._connection.endpoint}/emails:send",
            params={"api-version": API_VERSION},
            content=json.dumps(payload, ensure_ascii=False).encode("utf-8"),
            headers={"Content-Type": "application/json", "Operation-Id": str(message.notification_id)},
        )
        response = await self._call(request)
        if response is None:
            return classify_error(None, "", "")
        body = _json(response)
        if response.status_code in (200, 201, 202):
            operation_id = body.get("id") if isinstance(body, dict) else None
            reference = str(operation_id or message.notification_id)
            return SendOutcome(result="Sending", reference=reference, poll_after=self.poll_interval)
        if response.status_code == 409:
            # Our Operation-Id exists already: an earlier attempt reached ACS (its answer was lost). Poll
            # that operation rather than failing a message that is on its way.
            return SendOutcome(
                result="Sending",
                reference=str(message.notification_id),
                poll_after=self.poll_interval,
                detail="acs 409: operation exists",
            )
        outcome = self._error(response, body)
        log.info("acs send refused", detail=outcome.detail, transient=outcome.transient)
        return outcome

    async def poll(self, reference: str) -> SendOutcome | None:
        request = self._http.build_request(
            "GET",
            f"{self._connection.endpoint}/emails/operations/{quote(reference, safe='')}",
            params={"api-version": API_VERSION},
        )
        response = await self._call(request)
        if response is None:
            return classify_error(None, "", "")
        body = _json(response)
        if response.status_code != 200:
            return self._error(response, body)
        status = str(body.get("status") or "") if isinstance(body, dict) else ""
        if status.lower() == "succeeded":
            return SendOutcome(result="Succeeded", reference=reference)
        if status.lower() in _RUNNING:
            return SendOutcome(result="Sending", reference=reference, poll_after=self.poll_interval)
        if status.lower() in ("failed", "canceled", "cancelled"):
            code, message = _error_of(body)
            outcome = classify_error(400, code, message)
            final = "Failed" if outcome.transient else outcome.result
            return SendOutcome(
                result=final, reference=reference, detail=f"acs operation {status} {code}".rstrip()
            )
        # An unknown status: not proof of anything; ask again later.
        return SendOutcome(result="Sending", reference=reference, poll_after=self.poll_interval)

    def _error(self, response: httpx.Response, body: Any) -> SendOutcome:
        code, message = _error_of(body)
        code = code or response.headers.get("x-ms-error-code", "")
        return classify_error(response.status_code, code, message, response.headers)

    async def _call(self, request: httpx.Request) -> httpx.Response | None:
        sign_request(request, self._connection.access_key)
        try:
            return await self._http.send(request)
        except (httpx.TimeoutException, httpx.TransportError) as exc:
            log.warning("acs request failed", method=request.method, error=type(exc).__name__)
            return None

    async def close(self) -> None:
        if self._own_http:
            await self._http.aclose()


# --- Event Grid delivery reports (docs/compatibility.md C12, C14) ---


@dataclass
class EventGridDelivery:
    """What one Event Grid POST carried."""

    validation_code: str | None = None
    reports: list[DeliveryReport] = field(default_factory=list)
    rejected: list[RejectedReport] = field(default_factory=list)
    ignored: int = 0


def parse_event_grid(payload: Any) -> EventGridDelivery:
    """Event Grid schema events (a list, or one event). Raises ValueError when the body is not events.

    `Microsoft.EventGrid.SubscriptionValidationEvent` gives the validation code;
    `Microsoft.Communication.EmailDeliveryReportReceived` becomes a report matched by `data.messageId` (the
    ACS operation id), its `data.status` mapped by `REPORT_STATUS`; other event types are ignored.
    """
    events = payload if isinstance(payload, list) else [payload]
    if not all(isinstance(e, dict) for e in events):
        raise ValueError("the body must be Event Grid events")
    delivery = EventGridDelivery()
    for event in events:
        kind = str(event.get("eventType") or event.get("type") or "")
        data: dict[str, Any] = event["data"] if isinstance(event.get("data"), dict) else {}
        if kind == EVENT_VALIDATION:
            code = data.get("validationCode")
            if isinstance(code, str) and code:
                delivery.validation_code = code
            continue
        if kind != EVENT_DELIVERY_REPORT:
            delivery.ignored += 1
            continue
        message_id = data.get("messageId")
        status = str(data.get("status") or "")
        if not isinstance(message_id, str) or not message_id:
            delivery.rejected.append(
                RejectedReport(
                    "email", "INVALID_NOTIFICATION_IDENTIFIER", "report carries no messageId", event
                )
            )
            continue
        result = REPORT_STATUS.get(status.lower())
        if result is None:
            delivery.rejected.append(
                RejectedReport(
                    "email", "UNRECOGNIZED_SEND_RESULT", f"unknown delivery status {status[:40]!r}", event
                )
            )
            continue
        delivery.reports.append(
            DeliveryReport(channel="email", result=result, reference=message_id, raw=event)
        )
    return delivery

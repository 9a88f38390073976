"""SMS through LINK Mobility's PSWin gateway, XML interface over HTTP(S) (docs/compatibility.md C12, C14).

Sources for the wire format: the PSWinCom wiki pages "Gateway XML API" (send request elements),
"Send message response XML" (response DTD), "Receive delivery report request XML" and "Receive message
response XML" (the acknowledgement the gateway expects), the PSWinCom.Gateway.Client library (request
building: `ID`, `TEXT`, `SND`, `RCV`, `RCPREQ`, `OP`, `TTL` in minutes; response parsing: `REF`, `STATUS`,
`INFO`), and the reference's `SmsClient` (status mapping).

Send request: up to `batch_size` messages in one `SESSION` (a notification is one `MSG`; `ID` numbers
them 1..n within the document, and the answer reports each message under its `ID`):

    <?xml version='1.0' encoding='iso-8859-1'?>
    <SESSION><CLIENT>user</CLIENT><PW>password</PW><MSGLST><MSG>
      <ID>1</ID><TEXT>Hello</TEXT><SND>Altinn</SND><RCV>4799999999</RCV><RCPREQ>Y</RCPREQ><TTL>2880</TTL>
    </MSG></MSGLST></SESSION>

- `RCV`: international number without `+`/`00`. `SND`: digits (at most 15) or a name of at most 11
  characters (longer names are cut to 11). `TTL`: validity in minutes, 48 h by default, the caller's time to
  live for instant SMS. `RCPREQ=Y` asks for a delivery report.
- GSM-7 text goes as plain `TEXT`; any other text as a Unicode message: `OP=9` and `TEXT` the hex of its
  UCS-2 (UTF-16BE) bytes (see `segments.py` for the decision and the segment count).

Response: `<SESSION><LOGON>OK</LOGON><REASON/><MSGLST><MSG><ID>1</ID><REF>..</REF><STATUS>OK</STATUS>
<INFO/></MSG>...</MSGLST></SESSION>`, one `MSG` per message sent, matched back by `ID`. Each message's
outcome is its own: one invalid number fails that message only. A message the answer does not mention is
transient (retried). Mapping (docs/compatibility.md C12):

| gateway answer                                   | outcome                                       |
|--------------------------------------------------|-----------------------------------------------|
| `STATUS` OK                                      | `Accepted`, reference = `REF`                 |
| other `STATUS`, `INFO` starting with `Invalid RCV`| `Failed_InvalidRecipient`                     |
| other `STATUS`                                   | `Failed`                                      |
| timeout (30 s), connection error, HTTP error     | transient: retried on the provider's schedule |
| status, unreadable XML, `LOGON` not OK           | (5, 10, 15, 30 minutes), then `Failed`        |

An HTTP error, an unreadable answer or a refused `LOGON` concern the whole request: every message of the
batch is transient. The schedule is the provider's `retry_schedule`: dispatch uses it instead of its exponential back-off, so a
gateway in trouble is not hammered. A `LOGON` failure is treated as a gateway error (and logged as an error
naming the settings) so that a credentials mistake does not fail every SMS at once.

Delivery reports (`parse_delivery_reports`): the gateway POSTs `<MSGLST><MSG><ID/><REF/><RCV/><STATE/>
<DELIVERYTIME/></MSG>...</MSGLST>`; `STATE` is mapped by `REPORT_STATE` and matched by `REF`; the answer is
`report_acknowledgement(ids)`: `<MSGLST><MSG><ID>1</ID><STATUS>OK</STATUS></MSG></MSGLST>`.

Logs never carry the password, a message text or a full number.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import structlog

from altinn_notifications.providers.base import (
    DeliveryReport,
    RejectedReport,
    ReportSink,
    RetrySchedule,
    SendOutcome,
    SmsMessage,
)
from altinn_notifications.providers.masking import mask_phone
from altinn_notifications.providers.sms.segments import is_gsm7

log = structlog.get_logger(__name__)

#: Gateway errors are retried after 5, 10, 15 and 30 minutes, then the SMS fails (docs/compatibility.md C12, C20).
DEFAULT_RETRY_DELAYS: tuple[float, ...] = (300.0, 600.0, 900.0, 1800.0)
#: Messages per request (`SESSION`) and per worker in flight; chosen by measurement (docs/benchmarks.md).
DEFAULT_BATCH_SIZE = 250
DEFAULT_MAX_IN_FLIGHT = 4000
#: Most requests (connections) to the gateway at once. In flight / batch size alone would be hundreds with
#: small batches (400 for batches of 10), and each connection the gateway drops delays its SMS to their
#: next attempt; with small batches the SMS in flight are lowered to what these connections carry.
MAX_CONNECTIONS = 64
MAX_ALPHANUMERIC_SENDER = 11
MAX_NUMERIC_SENDER = 15
UNICODE_OP = "9"

_TRANSIENT = "Failed_TransientError"

#: Delivery-report `STATE` → result (docs/compatibility.md C12).
REPORT_STATE: Mapping[str, str] = {
    "DELIVRD": "Delivered",
    "EXPIRED": "Failed_Expired",
    "DELETED": "Failed_Deleted",
    "UNDELIV": "Failed_Undelivered",
    "REJECTD": "Failed_Rejected",
    "FAILED": "Failed",
    "NULL": "Failed",
    "UNKNOWN": "Failed",
    "BARRED": "Failed_BarredReceiver",
}


def gateway_number(number: str) -> str:
    """`+47 999 99 999` / `0047...` → `4799999999` (international, no prefix sign)."""
    compact = "".join(number.split())
    if compact.startswith("+"):
        return compact[1:]
    if compact.startswith("00"):
        return compact[2:]
    return compact


def gateway_sender(sender: str) -> str:
    """A numeric sender as digits (at most 15), else a name cut to 11 characters."""
    compact = sender.strip()
    digits = gateway_number(compact)
    if digits.isdigit():
        return digits[:MAX_NUMERIC_SENDER]
    return compact[:MAX_ALPHANUMERIC_SENDER]


def ttl_minutes(seconds: int) -> int:
    return max(1, math.ceil(seconds / 60))


def build_send_request(username: str, password: str, messages: SmsMessage | Sequence[SmsMessage]) -> bytes:
    """One `SESSION` with a `MSG` per message, numbered by `ID` 1..n in the given order."""
    batch = [messages] if isinstance(messages, SmsMessage) else list(messages)
    session = ET.Element("SESSION")
    ET.SubElement(session, "CLIENT").text = username
    ET.SubElement(session, "PW").text = password
    msglst = ET.SubElement(session, "MSGLST")
    for number, message in enumerate(batch, start=1):
        msg = ET.SubElement(msglst, "MSG")
        ET.SubElement(msg, "ID").text = str(number)
        if is_gsm7(message.body):
            ET.SubElement(msg, "TEXT").text = message.body
        else:
            ET.SubElement(msg, "OP").text = UNICODE_OP
            ET.SubElement(msg, "TEXT").text = message.body.encode("utf-16-be").hex().upper()
        ET.SubElement(msg, "SND").text = gateway_sender(message.sender)
        ET.SubElement(msg, "RCV").text = gateway_number(message.mobile_number)
        ET.SubElement(msg, "RCPREQ").text = "Y"
        ET.SubElement(msg, "TTL").text = str(ttl_minutes(message.time_to_live_seconds))
    document: bytes = ET.tostring(session, encoding="iso-8859-1", xml_declaration=True)
    return document


class XmlRejected(ValueError):
    """The body is not XML this service accepts (malformed, or declares entities)."""


def parse_xml(body: bytes | str) -> ET.Element:
    """Parse a small XML document from a vendor. Entity declarations are refused (no expansion attacks);
    external DTDs are never fetched."""
    raw = body.encode("utf-8") if isinstance(body, str) else body
    if b"<!ENTITY" in raw.upper():
        raise XmlRejected("entity declarations are not accepted")
    try:
        return ET.fromstring(raw)
    except ET.ParseError as exc:
        raise XmlRejected(f"not well-formed XML: {exc}") from None


def _text(element: ET.Element | None, tag: str) -> str:
    if element is None:
        return ""
    child = element.find(tag)
    return (child.text or "").strip() if child is not None else ""


def _message_outcome(msg: ET.Element) -> SendOutcome:
    status, info, reference = _text(msg, "STATUS"), _text(msg, "INFO"), _text(msg, "REF")
    if status.upper() == "OK":
        return SendOutcome(result="Accepted", reference=reference or None)
    if info.startswith("Invalid RCV"):
        return SendOutcome(result="Failed_InvalidRecipient", detail=f"gateway {status}: Invalid RCV")
    return SendOutcome(result="Failed", detail=f"gateway {status}: {info[:60]}")


def classify_batch_response(body: bytes, count: int) -> list[SendOutcome]:
    """docs/compatibility.md C12 mapping of the gateway's XML answer to a request of `count` messages (see
    the module docstring's table), in the order they were sent (`ID` 1..count)."""
    try:
        root = parse_xml(body)
    except XmlRejected:
        return [SendOutcome(result=_TRANSIENT, transient=True, detail="gateway answer is not XML")] * count
    logon = _text(root, "LOGON")
    if logon and logon.upper() != "OK":
        log.error(
            "sms gateway refused the logon; check NOTIFICATIONS_LINKMOBILITY_USERNAME and _PASSWORD",
            reason=_text(root, "REASON")[:100],
        )
        return [SendOutcome(result=_TRANSIENT, transient=True, detail="gateway logon failed")] * count
    messages = root.findall("MSGLST/MSG")
    by_id = {_text(msg, "ID"): msg for msg in messages}
    if count == 1 and len(messages) == 1 and "1" not in by_id:
        by_id["1"] = messages[0]  # one message, one answer: whatever ID the gateway echoed
    missing = SendOutcome(result=_TRANSIENT, transient=True, detail="gateway answer has no MSG for it")
    return [
        _message_outcome(by_id[str(number)]) if str(number) in by_id else missing
        for number in range(1, count + 1)
    ]


def classify_send_response(body: bytes) -> SendOutcome:
    """The outcome of a request with one message."""
    return classify_batch_response(body, 1)[0]


class LinkMobilitySmsProvider:
    """SMS through the PSWin XML gateway (see the module docstring). Delivery reports arrive through the
    SMS report webhook (`reports` package)."""

    name = "linkmobility"

    def __init__(
        self,
        url: str,
        username: str,
        password: str,
        *,
        timeout: float = 30.0,
        retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS,
        http: httpx.AsyncClient | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
    ) -> None:
        self._url = url
        self._username = username
        self._password = password
        self.retry_schedule = RetrySchedule(tuple(float(d) for d in retry_delays), final_result="Failed")
        #: Messages per request, and messages in flight per worker (dispatch reads both).
        self.batch_size = max(1, batch_size)
        self.max_in_flight = min(max(self.batch_size, max_in_flight), MAX_CONNECTIONS * self.batch_size)
        self._own_http = http is None
        # One connection per request in flight (at most MAX_CONNECTIONS): a ready batch never waits.
        connections = -(-self.max_in_flight // self.batch_size)
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        self._http = http or httpx.AsyncClient(timeout=timeout, follow_redirects=False, limits=limits)

    def __repr__(self) -> str:  # never show the password
        return f"LinkMobilitySmsProvider(url={self._url!r})"

    async def start(self, sink: ReportSink) -> None:
        return None

    async def send(self, message: SmsMessage) -> SendOutcome:
        return (await self.send_batch([message]))[0]

    async def send_batch(self, messages: Sequence[SmsMessage]) -> list[SendOutcome]:
        """Send up to `batch_size` messages in one request; an outcome per message, in their order."""
        if not messages:
            return []
        payload = build_send_request(self._username, self._password, messages)
        try:
            response = await self._http.post(
                self._url, content=payload, headers={"Content-Type": "application/xml; charset=iso-8859-1"}
            )
        except (httpx.TimeoutException, httpx.TransportError) as exc:
            log.warning("sms gateway unreachable", error=type(exc).__name__, messages=len(messages))
            failed = SendOutcome(result=_TRANSIENT, transient=True, detail=f"gateway {type(exc).__name__}")
            return [failed] * len(messages)
        if not 200 <= response.status_code < 300:
            log.warning("sms gateway http error", status=response.status_code, messages=len(messages))
            failed = SendOutcome(
                result=_TRANSIENT, transient=True, detail=f"gateway http {response.status_code}"
            )
            return [failed] * len(messages)
        outcomes = classify_batch_response(response.content, len(messages))
        for message, outcome in zip(messages, outcomes, strict=True):
            if outcome.result == "Accepted" and outcome.reference is None:
                log.warning("sms gateway accepted without a reference; its delivery report cannot be matched")
            elif outcome.result != "Accepted":
                log.info(
                    "sms not accepted",
                    to=mask_phone(message.mobile_number),
                    result=outcome.result,
                    detail=outcome.detail,
                )
        return outcomes

    async def close(self) -> None:
        if self._own_http:
            await self._http.aclose()


# --- delivery reports (docs/compatibility.md C12, C14) ---


@dataclass
class SmsReportDelivery:
    """What one delivery-report POST carried: reports, unusable ones, and the message ids to acknowledge."""

    reports: list[DeliveryReport] = field(default_factory=list)
    rejected: list[RejectedReport] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)


def parse_delivery_reports(body: bytes | str) -> SmsReportDelivery:
    """Parse `<MSGLST><MSG>...</MSG></MSGLST>`; raises XmlRejected when the body is not such a document."""
    root = parse_xml(body)
    if root.tag != "MSGLST":
        raise XmlRejected("the root element must be MSGLST")
    messages = root.findall("MSG")
    if not messages:
        raise XmlRejected("MSGLST has no MSG")
    delivery = SmsReportDelivery()
    for msg in messages:
        msg_id, reference, state = _text(msg, "ID"), _text(msg, "REF"), _text(msg, "STATE")
        raw: dict[str, Any] = {
            "reference": reference,
            "receiver": _text(msg, "RCV"),
            "state": state,
            "deliveryTime": _text(msg, "DELIVERYTIME") or None,
        }
        delivery.ids.append(msg_id or "1")
        if not reference:
            delivery.rejected.append(
                RejectedReport("sms", "INVALID_NOTIFICATION_IDENTIFIER", "report has no REF", raw)
            )
            continue
        result = REPORT_STATE.get(state.upper())
        if result is None:
            delivery.rejected.append(
                RejectedReport("sms", "UNRECOGNIZED_SEND_RESULT", f"unknown STATE {state[:20]!r}", raw)
            )
            continue
        delivery.reports.append(DeliveryReport(channel="sms", result=result, reference=reference, raw=raw))
    return delivery


def report_acknowledgement(ids: Iterable[str]) -> bytes:
    """The receipt the gateway expects: one `<MSG><ID/><STATUS>OK</STATUS></MSG>` per report."""
    root = ET.Element("MSGLST")
    for msg_id in ids:
        msg = ET.SubElement(root, "MSG")
        ET.SubElement(msg, "ID").text = msg_id
        ET.SubElement(msg, "STATUS").text = "OK"
    body: bytes = ET.tostring(root, encoding="utf-8")
    return b'<?xml version="1.0"?>\n' + body

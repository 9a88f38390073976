"""A stand-in for LINK Mobility's PSWin XML gateway, served on loopback by `tests.loopback.serve`.

It parses the `SESSION` document (one or many `MSG`), checks `CLIENT`/`PW`, and answers each message
under its `ID`, per receiver (`RCV`), unless answers are queued with `queue`:

| receiver        | answer                                                        |
|-----------------|---------------------------------------------------------------|
| `4741000001`    | `STATUS` FAIL, `INFO` "Invalid RCV ..."                        |
| `4741000003`    | `STATUS` FAIL, `INFO` "Message rejected"                       |
| `4741000500`    | HTTP 500 (a gateway error; retried on the provider's schedule)|
| anything else   | `STATUS` OK with a `REF`                                      |

When `report_url` is set, each accepted message gets a delivery report (`STATE` = `report_state`) posted
there with HTTP Basic auth, after `report_delay` seconds, or before the send answer is returned when
`report_before_answer` is true (a report that overtakes its send result).

`delay` holds every answer back (a vendor's latency); while `outage` is set, every request is answered
with that HTTP status and nothing is accepted. Any path is served (`paths` records which was asked, so
that clients configured with different paths can be told apart); `in_flight_peak` is the most requests
handled at once.
"""

from __future__ import annotations

import asyncio
import time
import uuid
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

USERNAME = "altinn"
PASSWORD = "gateway-secret"


def msg_answer(msg_id: str, status: str = "OK", info: str = "", ref: str | None = None) -> str:
    return f"<MSG><ID>{msg_id}</ID>{f'<REF>{ref}</REF>' if ref else ''}<STATUS>{status}</STATUS><INFO>{info}</INFO></MSG>"


def session_document(messages: list[str], logon: str = "OK") -> str:
    body = "".join(messages)
    return f'<?xml version="1.0"?><SESSION><LOGON>{logon}</LOGON><REASON></REASON><MSGLST>{body}</MSGLST></SESSION>'


def session_response(
    status: str = "OK", info: str = "", ref: str | None = None, logon: str = "OK"
) -> Response:
    return Response(
        session_document([msg_answer("1", status, info, ref)], logon), media_type="application/xml"
    )


def report_xml(reports: list[tuple[str, str, str]]) -> str:
    """(id, ref, state) → a PSWin delivery-report request document."""
    msgs = "".join(
        f"<MSG><ID>{i}</ID><REF>{ref}</REF><RCV>4799999999</RCV><STATE>{state}</STATE>"
        f"<DELIVERYTIME>2026.11.27 12:00:00</DELIVERYTIME></MSG>"
        for i, ref, state in reports
    )
    return f'<?xml version="1.0"?>\n<!DOCTYPE MSGLST SYSTEM "pswincom_report_request.dtd">\n<MSGLST>{msgs}</MSGLST>'


@dataclass
class FakeGateway:
    username: str = USERNAME
    password: str = PASSWORD
    report_url: str | None = None
    report_auth: tuple[str, str] = ("reports", "report-secret")
    report_state: str = "DELIVRD"
    report_delay: float = 0.05
    report_before_answer: bool = False
    delay: float = 0.0
    outage: int | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)  # one per message
    raw: list[bytes] = field(default_factory=list)  # one per request
    paths: Counter[str] = field(default_factory=Counter)
    calls: Counter[str] = field(default_factory=Counter)
    call_times: list[tuple[float, str]] = field(default_factory=list)
    accepted_times: list[float] = field(default_factory=list)  # wall clock of each accepted message
    queued: list[Response] = field(default_factory=list)
    acknowledgements: list[tuple[int, str]] = field(default_factory=list)
    in_flight: int = 0
    in_flight_peak: int = 0
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def queue(self, response: Response) -> None:
        self.queued.append(response)

    @property
    def app(self) -> Starlette:
        return Starlette(routes=[Route("/{path:path}", self._handle, methods=["POST"])])

    async def _handle(self, request: Request) -> Response:
        self.in_flight += 1
        self.in_flight_peak = max(self.in_flight_peak, self.in_flight)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            return await self._answer(request)
        finally:
            self.in_flight -= 1

    async def _answer(self, request: Request) -> Response:
        body = await request.body()
        self.raw.append(body)
        self.paths[request.url.path] += 1
        if self.outage is not None:
            return Response("gateway unavailable", status_code=self.outage)
        root = ET.fromstring(body)
        messages = root.findall("MSGLST/MSG")
        assert messages
        now = asyncio.get_running_loop().time()
        batch = []
        for msg in messages:
            fields = {child.tag: child.text or "" for child in msg}
            fields["CLIENT"] = root.findtext("CLIENT") or ""
            self.requests.append(fields)
            self.calls[fields.get("RCV", "")] += 1
            self.call_times.append((now, fields.get("RCV", "")))
            batch.append(fields)
        if self.queued:
            return self.queued.pop(0)
        if root.findtext("CLIENT") != self.username or root.findtext("PW") != self.password:
            return session_response(logon="FAIL")
        if any(fields.get("RCV") == "4741000500" for fields in batch):
            return Response("gateway trouble", status_code=500)
        answers = []
        for fields in batch:
            msg_id, receiver = fields.get("ID", ""), fields.get("RCV", "")
            if receiver == "4741000001":
                answers.append(msg_answer(msg_id, "FAIL", "Invalid RCV: number is not valid"))
                continue
            if receiver == "4741000003":
                answers.append(msg_answer(msg_id, "FAIL", "Message rejected"))
                continue
            ref = str(uuid.uuid4())
            self.accepted_times.append(time.time())
            if self.report_url:
                if self.report_before_answer:
                    await self._post_report(ref)
                else:
                    self._post_report_later(ref)
            answers.append(msg_answer(msg_id, "OK", "", ref))
        return Response(session_document(answers), media_type="application/xml")

    async def _post_report(self, ref: str) -> None:
        assert self.report_url is not None
        async with httpx.AsyncClient() as client:
            response = await client.post(
                self.report_url,
                content=report_xml([("1", ref, self.report_state)]),
                headers={"Content-Type": "application/xml"},
                auth=self.report_auth,
            )
        self.acknowledgements.append((response.status_code, response.text))

    def _post_report_later(self, ref: str) -> None:
        async def later() -> None:
            await asyncio.sleep(self.report_delay)
            await self._post_report(ref)

        task = asyncio.get_running_loop().create_task(later())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

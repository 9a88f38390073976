"""A stand-in for LINK Mobility's PSWin XML gateway, served on loopback by `tests.loopback.serve`.

It parses the `SESSION` document, checks `CLIENT`/`PW`, and answers per receiver (`RCV`), unless answers
are queued with `queue`:

| receiver        | answer                                                        |
|-----------------|---------------------------------------------------------------|
| `4741000001`    | `STATUS` FAIL, `INFO` "Invalid RCV ..."                        |
| `4741000003`    | `STATUS` FAIL, `INFO` "Message rejected"                       |
| `4741000500`    | HTTP 500 (a gateway error; retried on the provider's schedule)|
| anything else   | `STATUS` OK with a `REF`                                      |

When `report_url` is set, each accepted message gets a delivery report (`STATE` = `report_state`) posted
there with HTTP Basic auth, after `report_delay` seconds, or before the send answer is returned when
`report_before_answer` is true (a report that overtakes its send result).
"""

from __future__ import annotations

import asyncio
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


def session_response(
    status: str = "OK", info: str = "", ref: str | None = None, logon: str = "OK"
) -> Response:
    msg = f"<MSG><ID>1</ID>{f'<REF>{ref}</REF>' if ref else ''}<STATUS>{status}</STATUS><INFO>{info}</INFO></MSG>"
    body = f'<?xml version="1.0"?><SESSION><LOGON>{logon}</LOGON><REASON></REASON><MSGLST>{msg}</MSGLST></SESSION>'
    return Response(body, media_type="application/xml")


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
    requests: list[dict[str, Any]] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)
    calls: Counter[str] = field(default_factory=Counter)
    call_times: list[tuple[float, str]] = field(default_factory=list)
    queued: list[Response] = field(default_factory=list)
    acknowledgements: list[tuple[int, str]] = field(default_factory=list)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def queue(self, response: Response) -> None:
        self.queued.append(response)

    @property
    def app(self) -> Starlette:
        return Starlette(routes=[Route("/", self._handle, methods=["POST"])])

    async def _handle(self, request: Request) -> Response:
        body = await request.body()
        self.raw.append(body)
        if self.delay:
            await asyncio.sleep(self.delay)
        root = ET.fromstring(body)
        msg = root.find("MSGLST/MSG")
        assert msg is not None
        fields = {child.tag: child.text or "" for child in msg}
        fields["CLIENT"] = root.findtext("CLIENT") or ""
        self.requests.append(fields)
        receiver = fields.get("RCV", "")
        self.calls[receiver] += 1
        self.call_times.append((asyncio.get_running_loop().time(), receiver))
        if self.queued:
            return self.queued.pop(0)
        if root.findtext("CLIENT") != self.username or root.findtext("PW") != self.password:
            return session_response(logon="FAIL")
        if receiver == "4741000001":
            return session_response("FAIL", "Invalid RCV: number is not valid")
        if receiver == "4741000003":
            return session_response("FAIL", "Message rejected")
        if receiver == "4741000500":
            return Response("gateway trouble", status_code=500)
        ref = str(uuid.uuid4())
        if self.report_url:
            if self.report_before_answer:
                await self._post_report(ref)
            else:
                self._post_report_later(ref)
        return session_response("OK", "", ref)

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

"""A stand-in for Azure Communication Services Email (REST `2023-03-31`) and its Event Grid reports, served
on loopback by `tests.loopback.serve`. It checks every request's HMAC-SHA256 signature by recomputing it
from what arrived (method, path and query, `x-ms-date`, Host header, body hash) with its own copy of the key.

Outcome by recipient address (local part), unless a response is queued with `queue`:

| recipient              | send                                              | polls                           |
|------------------------|---------------------------------------------------|---------------------------------|
| `suppressed@...`       | 400 `EmailDroppedAllRecipientsSuppressed`         |                                 |
| `badformat@...`        | 400 "Invalid format for email address ..."        |                                 |
| `toolarge@...`         | 413                                               |                                 |
| `broken@...`           | 500                                               |                                 |
| `refused@...`          | 400 `BadRequest`                                  |                                 |
| `opfails@...`          | 202                                               | Running, then `Failed`          |
| anything else          | 202, operation id = the `Operation-Id` header     | Running `running_polls` times,  |
|                        |                                                   | then `Succeeded`                |

`delay` holds every answer back (a vendor's latency, or one that stops answering in time); `arrival_times`
stamps each signed send as it arrives, `send_times` as it is accepted.

When `report_url` is set, an operation that reached `Succeeded` posts an Event Grid
`EmailDeliveryReportReceived` (status `report_status`) there, as Event Grid would.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

KEY = base64.b64encode(b"fake-acs-access-key-0123456789ab").decode()


def connection_string(url: str, key: str = KEY) -> str:
    return f"endpoint={url}/;accesskey={key}"


def acs_error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


@dataclass
class Operation:
    id: str
    recipient: str
    sender: str
    fail: bool
    polls: int = 0


@dataclass
class FakeAcs:
    key: str = KEY
    running_polls: int = 1
    report_url: str | None = None
    report_status: str = "Delivered"
    report_delay: float = 0.05
    sends: list[dict[str, Any]] = field(default_factory=list)
    send_headers: list[dict[str, str]] = field(default_factory=list)
    send_times: list[float] = field(default_factory=list)  # wall clock (time.time()) of each accepted POST
    arrival_times: list[float] = field(default_factory=list)  # ... of each signed POST, before `delay`
    in_flight: int = 0  # requests (sends and polls) being answered now, and the most at once
    in_flight_peak: int = 0
    operations: dict[str, Operation] = field(default_factory=dict)
    queued: list[Response] = field(default_factory=list)
    queued_polls: list[Response] = field(default_factory=list)
    signature_failures: int = 0
    poll_count: Counter[str] = field(default_factory=Counter)
    reports_posted: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    delay: float = 0.0
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def queue(self, response: Response) -> None:
        """The next send gets this answer (first in, first out), whatever the recipient."""
        self.queued.append(response)

    def queue_poll(self, response: Response) -> None:
        self.queued_polls.append(response)

    @property
    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/emails:send", self._send, methods=["POST"]),
                Route("/emails/operations/{operation_id}", self._poll, methods=["GET"]),
            ]
        )

    def _signature_ok(self, request: Request, body: bytes) -> bool:
        headers = request.headers
        body_hash = base64.b64encode(hashlib.sha256(body).digest()).decode()
        if headers.get("x-ms-content-sha256") != body_hash:
            return False
        path = request.scope["raw_path"].decode()
        query = request.scope["query_string"].decode()
        path_and_query = f"{path}?{query}" if query else path
        to_sign = f"{request.method}\n{path_and_query}\n{headers.get('x-ms-date', '')};{headers.get('host', '')};{body_hash}"
        expected = base64.b64encode(
            hmac.new(base64.b64decode(self.key), to_sign.encode(), hashlib.sha256).digest()
        ).decode()
        auth = headers.get("authorization", "")
        return auth == f"HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature={expected}"

    async def _send(self, request: Request) -> Response:
        body = await request.body()
        if not self._signature_ok(request, body):
            self.signature_failures += 1
            return acs_error(401, "Denied", "Denied by the resource provider.")
        if request.query_params.get("api-version") != "2023-03-31":
            return acs_error(400, "InvalidApiVersion", "unsupported api-version")
        self.arrival_times.append(time.time())
        if self.delay:
            self.in_flight += 1
            self.in_flight_peak = max(self.in_flight_peak, self.in_flight)
            try:
                await asyncio.sleep(self.delay)
            finally:
                self.in_flight -= 1
        payload = json.loads(body)
        self.send_times.append(time.time())
        self.sends.append(payload)
        self.send_headers.append(dict(request.headers))
        if self.queued:
            return self.queued.pop(0)
        recipient = payload["recipients"]["to"][0]["address"]
        local = recipient.split("@")[0].lower()
        if local == "suppressed":
            return acs_error(400, "EmailDroppedAllRecipientsSuppressed", "All recipients are suppressed.")
        if local == "badformat":
            return acs_error(400, "BadRequest", f"Invalid format for email address '{recipient}'.")
        if local == "toolarge":
            return acs_error(413, "RequestEntityTooLarge", "The request is too large.")
        if local == "broken":
            return acs_error(500, "InternalServerError", "Something broke.")
        if local == "refused":
            return acs_error(400, "BadRequest", "Sender domain not verified.")
        operation_id = request.headers.get("operation-id") or str(uuid.uuid4())
        self.operations.setdefault(
            operation_id,
            Operation(operation_id, recipient, payload["senderAddress"], fail=local == "opfails"),
        )
        return JSONResponse(
            {"id": operation_id, "status": "Running", "error": None},
            status_code=202,
            headers={
                "Operation-Location": f"{request.base_url}emails/operations/{operation_id}?api-version=2023-03-31"
            },
        )

    async def _poll(self, request: Request) -> Response:
        if not self._signature_ok(request, await request.body()):
            self.signature_failures += 1
            return acs_error(401, "Denied", "Denied by the resource provider.")
        if self.delay:
            self.in_flight += 1
            self.in_flight_peak = max(self.in_flight_peak, self.in_flight)
            try:
                await asyncio.sleep(self.delay)
            finally:
                self.in_flight -= 1
        operation_id = request.path_params["operation_id"]
        self.poll_count[operation_id] += 1
        if self.queued_polls:
            return self.queued_polls.pop(0)
        operation = self.operations.get(operation_id)
        if operation is None:
            return acs_error(404, "NotFound", "Operation not found.")
        operation.polls += 1
        if operation.polls <= self.running_polls:
            return JSONResponse({"id": operation_id, "status": "Running", "error": None})
        if operation.fail:
            return JSONResponse(
                {
                    "id": operation_id,
                    "status": "Failed",
                    "error": {"code": "Failed", "message": "Delivery failed."},
                }
            )
        if operation.polls == self.running_polls + 1 and self.report_url:
            self._post_report_later(operation)
        return JSONResponse({"id": operation_id, "status": "Succeeded", "error": None})

    def _post_report_later(self, operation: Operation) -> None:
        async def post() -> None:
            await asyncio.sleep(self.report_delay)
            assert self.report_url is not None
            event = delivery_event(operation.id, self.report_status, operation.recipient, operation.sender)
            async with httpx.AsyncClient() as client:
                response = await client.post(self.report_url, json=[event])
            self.reports_posted.append((response.status_code, event))

        task = asyncio.get_running_loop().create_task(post())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def delivery_event(
    message_id: str | None, status: str, recipient: str = "ola@example.no", sender: str = "noreply@altinn.no"
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "sender": sender,
        "recipient": recipient,
        "status": status,
        "deliveryStatusDetails": {
            "statusMessage": "No error.",
            "recipientMailServerHostName": "mx.example.no",
        },
        "deliveryAttemptTimeStamp": "2026-02-04T11:33:08Z",
    }
    if message_id is not None:
        data["messageId"] = message_id
    return {
        "id": str(uuid.uuid4()),
        "topic": "/subscriptions/x/resourceGroups/y/providers/Microsoft.Communication/CommunicationServices/acs",
        "subject": f"sender/{sender}/message/{message_id}",
        "eventType": "Microsoft.Communication.EmailDeliveryReportReceived",
        "eventTime": "2026-02-04T11:33:09Z",
        "dataVersion": "1.0",
        "data": data,
    }


def validation_event(code: str) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "topic": "/subscriptions/x/resourceGroups/y/providers/Microsoft.EventGrid/topics/t",
        "subject": "",
        "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
        "eventTime": "2026-02-04T11:33:09Z",
        "dataVersion": "2",
        "data": {"validationCode": code, "validationUrl": "https://example.invalid/validate"},
    }

"""499 `NOT-00002` when the client goes away before a v2 request completes (docs/compatibility.md C3)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from starlette.requests import Request

from altinn_notifications.bootstrap import Container
from altinn_notifications.chains.router import ensure_connected
from altinn_notifications.errors import CodedProblem
from tests.api.helpers import V1
from tests.chains.conftest import FakeProviders, app_with_chains, count, fake_provider_container
from tests.conftest import ContainerFactory


@pytest.fixture
def container(make_container: ContainerFactory, providers: FakeProviders) -> Container:
    """An instant order would be handed to the fake providers."""
    return fake_provider_container(make_container, providers)


def _request(receive: Any) -> Request:
    return Request({"type": "http", "method": "POST", "path": "/", "headers": []}, receive)


async def test_ensure_connected_maps_a_disconnect_to_not_00002() -> None:
    waiting = asyncio.Event()

    async def still_there() -> dict[str, Any]:  # a server's `receive` once the body is in: it waits
        await waiting.wait()
        return {"type": "http.request", "body": b"", "more_body": False}

    async def gone() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    await ensure_connected(_request(still_there))
    assert not waiting._waiters  # the wait was withdrawn, not left behind
    with pytest.raises(CodedProblem) as raised:
        await ensure_connected(_request(gone))
    problem = raised.value
    assert (problem.status_code, problem.code) == (499, "NOT-00002")
    assert problem.detail == (
        "The client disconnected or cancelled the request before the server could complete processing"
    )


async def _call_then_disconnect(
    container: Container, path: str, body: dict[str, Any], auth: dict[str, str]
) -> tuple[int, dict[str, Any]]:
    """Drive the ASGI app directly: the body arrives, then the client is gone (`http.disconnect`)."""
    payload = json.dumps(body).encode()
    incoming: list[dict[str, Any]] = [{"type": "http.request", "body": payload, "more_body": False}]

    async def receive() -> dict[str, Any]:
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": f"{V1}{path}",
        "raw_path": f"{V1}{path}".encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(payload)).encode()),
            (b"authorization", auth["Authorization"].encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    await app_with_chains(container)(scope, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    content = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, json.loads(content)


async def test_disconnected_client_gets_499_and_nothing_is_stored(
    container: Container, auth: dict[str, str]
) -> None:
    body = {
        "idempotencyId": "gone-1",
        "recipient": {
            "recipientEmail": {"emailAddress": "a@example.no", "emailSettings": {"subject": "s", "body": "b"}}
        },
    }
    status, problem = await _call_then_disconnect(container, "/future/orders", body, auth)
    assert status == 499
    assert (problem["status"], problem["code"]) == (499, "NOT-00002")
    assert await count(container, "orderschain") == 0 and await count(container, "orders") == 0


async def test_disconnected_instant_client_is_not_sent_anything(
    container: Container, auth: dict[str, str], providers: FakeProviders
) -> None:
    body = {
        "idempotencyId": "gone-2",
        "recipientSms": {
            "phoneNumber": "+4799999999",
            "timeToLiveInSeconds": 60,
            "smsSettings": {"body": "x"},
        },
    }
    status, problem = await _call_then_disconnect(container, "/future/orders/instant/sms", body, auth)
    assert status == 499 and problem["code"] == "NOT-00002"
    assert providers.sms.sent == []
    assert await count(container, "orderschain") == 0

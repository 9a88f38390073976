"""`api.direct.DirectRoute`: the order endpoints' direct path answers exactly as FastAPI's own handler.

Every request is sent twice, to the app as built and to the same app with a dependency override (which
sends every request through FastAPI's handler): status, content type and body must be the same, ids
and trace ids aside."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute

from altinn_notifications.api.app import create_app
from altinn_notifications.api.direct import DirectRoute, _plan_of
from altinn_notifications.api.routing import API_PREFIX
from altinn_notifications.bootstrap import Container
from altinn_notifications.chains import router as chains_router
from altinn_notifications.orders import router as orders_router
from tests.api.helpers import V1

EMAIL_ORDER = {"subject": "Subject", "body": "Body", "recipients": [{"emailAddress": "a@example.no"}]}
V2_ORDER = {
    "idempotencyId": "direct-route",
    "recipient": {
        "recipientEmail": {"emailAddress": "a@example.no", "emailSettings": {"subject": "S", "body": "B"}}
    },
}


def _routes() -> dict[tuple[str, str], APIRoute]:
    return {
        (method, route.path.removeprefix(API_PREFIX)): route
        for router in (orders_router.intake_router, orders_router.router, chains_router.router)
        for route in router.routes
        if isinstance(route, APIRoute)
        for method in route.methods or ()
    }


def test_the_order_posts_are_called_directly_and_other_routes_are_not() -> None:
    routes = _routes()
    direct = [
        ("POST", "/orders/email"),
        ("POST", "/orders/sms"),
        ("POST", "/orders"),
        ("POST", "/future/orders"),
        ("POST", "/future/orders/instant/sms"),
    ]
    for key in direct:
        assert isinstance(routes[key], DirectRoute)
        assert _plan_of(routes[key].dependant) is not None, key
    # Path parameters, query parameters, or a dependency with dependencies of its own: FastAPI's handler.
    for key in [("GET", "/orders/{id}"), ("GET", "/orders"), ("POST", "/future/orders/composed-email")]:
        assert _plan_of(routes[key].dependant) is None, key


def _through_fastapi(container: Container) -> FastAPI:
    app = create_app(container)
    app.dependency_overrides[_unused_dependency] = _unused_dependency
    return app


def _unused_dependency() -> None:
    """Overridden only so that `dependency_overrides` is not empty."""


def _comparable(response: httpx.Response) -> tuple[int, str, Any]:
    content_type = response.headers.get("content-type", "")
    try:
        body: Any = response.json()
    except json.JSONDecodeError:
        body = response.text
    if isinstance(body, dict):
        body = {k: v for k, v in body.items() if k not in {"orderId", "traceId", "notificationOrderId"}}
        if "notification" in body:
            body["notification"] = {k: v for k, v in body["notification"].items() if k != "shipmentId"}
    return response.status_code, content_type, body


CASES: list[tuple[str, str, Any, bool, str]] = [
    # (name, path, body, authenticated, content type)
    ("valid v1", "/orders/email", EMAIL_ORDER, True, "application/json"),
    ("no subject", "/orders/email", {**EMAIL_ORDER, "subject": ""}, True, "application/json"),
    ("wrong type", "/orders/email", {**EMAIL_ORDER, "recipients": "nobody"}, True, "application/json"),
    ("not JSON", "/orders/email", b"{not json", True, "application/json"),
    ("not JSON, no token", "/orders/email", b"{not json", False, "application/json"),
    ("valid, no token", "/orders/email", EMAIL_ORDER, False, "application/json"),
    ("plain text", "/orders/email", json.dumps(EMAIL_ORDER).encode(), True, "text/plain"),
    ("empty body", "/orders/email", b"", True, "application/json"),
    ("JSON null", "/orders/email", None, True, "application/json"),
    (
        "valid generic",
        "/orders",
        {
            "notificationChannel": "Email",
            "emailTemplate": {"subject": "S", "body": "B"},
            "recipients": [{"emailAddress": "a@example.no"}],
        },
        True,
        "application/json",
    ),
    ("v2 missing recipient", "/future/orders", {"idempotencyId": "x"}, True, "application/json"),
    ("NUL in a text", "/orders/email", {**EMAIL_ORDER, "body": "a\u0000b"}, True, "application/json"),
    ("unknown field", "/orders/email", {**EMAIL_ORDER, "colour": "blue"}, True, "application/json"),
    (
        "NaN literal",
        "/orders/email",
        b'{"subject": "S", "body": "B", "recipients": NaN}',
        True,
        "application/json",
    ),
    (
        "duplicate key",
        "/orders/email",
        b'{"subject": "", "subject": "S", "body": "B", "recipients": []}',
        True,
        "application/json",
    ),
    ("charset", "/orders/email", EMAIL_ORDER, True, "application/json; charset=utf-8"),
    ("two slashes", "/orders/email", EMAIL_ORDER, True, "application/a/b+json"),
    ("vendor json", "/orders/email", EMAIL_ORDER, True, "application/vnd.example+json"),
    ("nested deep", "/orders/email", b"[" * 5000 + b"]" * 5000, True, "application/json"),
]


@pytest.mark.parametrize(
    ("name", "path", "body", "authenticated", "content_type"), CASES, ids=[c[0] for c in CASES]
)
async def test_the_direct_path_answers_as_fastapi_does(
    container: Container,
    auth: dict[str, str],
    name: str,
    path: str,
    body: Any,
    authenticated: bool,
    content_type: str,
) -> None:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {**(auth if authenticated else {}), "content-type": content_type}
    answers = []
    for app in (create_app(container), _through_fastapi(container)):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            answers.append(await http.post(f"{V1}{path}", content=content, headers=headers))
    direct, standard = answers
    assert _comparable(direct) == _comparable(standard)
    if name.startswith("valid") and authenticated:
        assert direct.status_code == 202
        assert direct.headers["location"].endswith(direct.json()["orderId"])


async def test_a_v2_repeat_answers_the_original_receipt_on_both_paths(
    container: Container, auth: dict[str, str]
) -> None:
    receipts = []
    for app in (create_app(container), _through_fastapi(container), create_app(container)):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            receipts.append(await http.post(f"{V1}/future/orders", json=V2_ORDER, headers=auth))
    assert [r.status_code for r in receipts] == [201, 200, 200]
    assert len({r.json()["notificationOrderId"] for r in receipts}) == 1

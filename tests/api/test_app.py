"""Application-wide behaviour: authentication on every route, health, docs, error bodies."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute

from altinn_notifications.api.app import create_app
from altinn_notifications.auth.service import build_authenticator
from altinn_notifications.bootstrap import Container
from altinn_notifications.config import SCOPE_CREATE, SCOPE_SUPPORT, Settings
from altinn_notifications.console import routes as console_routes
from tests.api.helpers import V1
from tests.auth.helpers import PlatformIssuers
from tests.conftest import ClientFactory

_APP = {"urn:altinn:app": "ttd/app"}
UNAUTHENTICATED = {"/health", "/notifications/api/v1/tests/sendcondition"}


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path)


def _protected_routes(container: Container) -> list[tuple[str, str]]:
    """Every operation of the OpenAPI document (every public route) except the unauthenticated ones."""
    app = create_app(container)
    routes = [
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        if path not in UNAUTHENTICATED
        for method in operations
    ]
    assert len(routes) >= 9  # the nine v1 endpoints at least
    return routes


async def test_every_route_rejects_unauthenticated_requests(
    client: httpx.AsyncClient, container: Container
) -> None:
    for method, path in _protected_routes(container):
        response = await client.request(method, _concrete(path), params={"sendersReference": "x"}, json={})
        assert response.status_code == 401, f"{method} {path} answered {response.status_code}"
        # The reference's framework answers 401 and 403 with an empty body (docs/compatibility.md C2).
        assert response.content == b"" and response.headers["www-authenticate"] == "Bearer"


#: The console's only pages open without a session: the sign-in form and the one-time link.
CONSOLE_PUBLIC = {"/console/signin", "/console/signin/link"}


def _console_routes() -> list[tuple[str, str]]:
    """Every route of the console's router (left out of the OpenAPI document), with each method."""
    routes = [
        (method, route.path)
        for route in console_routes.router.routes
        if isinstance(route, APIRoute) and route.path not in CONSOLE_PUBLIC
        for method in sorted(route.methods)
    ]
    assert all(path.startswith("/console") for _, path in routes)
    assert len(routes) >= 12  # pages, actions and static files
    return routes


async def test_nothing_of_the_console_is_reachable_without_signing_in(
    client: httpx.AsyncClient, container: Container, make_token: Callable[..., str]
) -> None:
    # An API token is no console session, not even one with the support scope.
    support = {"Authorization": f"Bearer {make_token('ttd', scopes=[SCOPE_SUPPORT])}"}
    for method, path in _console_routes():
        for headers in ({}, support):
            response = await client.request(
                method, _concrete(path.replace("{name}", "console.css")), headers=headers, data={"all": "1"}
            )
            assert response.status_code == 303, f"{method} {path} answered {response.status_code}"
            assert response.headers["location"] == "/console/signin"
            assert "console" not in response.text.lower()


async def test_every_route_rejects_bad_tokens(
    client: httpx.AsyncClient, container: Container, make_token: Callable[..., str]
) -> None:
    expired = make_token("ttd", ttl_seconds=-60)
    for token in ("garbage", expired):
        for method, path in _protected_routes(container):
            response = await client.request(
                method, _concrete(path), headers={"Authorization": f"Bearer {token}"}, json={}
            )
            assert response.status_code == 401, f"{method} {path} answered {response.status_code}"


async def test_missing_scope_or_org_is_forbidden(
    client: httpx.AsyncClient, make_token: Callable[..., str]
) -> None:
    no_scope = make_token("ttd", scopes=["altinn:something.else"])
    no_org = make_token(None)
    for token in (no_scope, no_org):
        response = await client.get(
            f"{V1}/orders/{uuid.uuid4()}", headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 403 and response.content == b""


SUPPORT_PREFIX = f"{V1}/future/dashboard/"


async def test_support_routes_need_the_support_scope_and_it_grants_nothing_else(
    client: httpx.AsyncClient, container: Container, make_token: Callable[..., str]
) -> None:
    owner = {"Authorization": f"Bearer {make_token('ttd')}"}
    support = {"Authorization": f"Bearer {make_token('ttd', scopes=[SCOPE_SUPPORT])}"}
    routes = _protected_routes(container)
    support_routes = [(m, p) for m, p in routes if p.startswith(SUPPORT_PREFIX)]
    assert len(support_routes) == 3
    for method, path in routes:
        if (method, path) in support_routes:
            response = await client.request(method, path, headers=owner)
            assert response.status_code == 403, f"{method} {path} answered {response.status_code}"
        else:
            response = await client.request(
                method, _concrete(path), params={"sendersReference": "x"}, headers=support, json={}
            )
            assert response.status_code in (401, 403), f"{method} {path} answered {response.status_code}"


async def test_scope_claim_fallback_is_accepted(
    client: httpx.AsyncClient, make_token: Callable[..., str]
) -> None:
    token = make_token("ttd", scopes=None, extra_claims={"scope": f"openid {SCOPE_CREATE}"})
    response = await client.get(f"{V1}/orders/{uuid.uuid4()}", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 404  # authorised; the order simply does not exist


async def test_every_route_refuses_a_platform_token_signed_with_the_bearer_key(
    pat_container: Container, make_client: ClientFactory, make_token: Callable[..., str]
) -> None:
    # Platform tokens are trusted (issuer keys configured), but the bearer key vouches for no issuer.
    client = make_client(pat_container)
    forged = make_token(None, scopes=None, issuer="ttd", extra_claims={"urn:altinn:app": "ttd/app"})
    for method, path in _protected_routes(pat_container):
        response = await client.request(
            method,
            _concrete(path),
            params={"sendersReference": "x"},
            headers={"PlatformAccessToken": forged},
            json={},
        )
        assert response.status_code == 401, f"{method} {path} answered {response.status_code}"
        assert response.content == b"" and response.headers["www-authenticate"] == "Bearer"


async def test_platform_access_token_header_is_refused_by_default(
    client: httpx.AsyncClient, platform_issuers: PlatformIssuers
) -> None:
    response = await client.post(
        f"{V1}/orders/sms",
        json={"body": "x", "recipients": [{"mobileNumber": "+4799999999"}]},
        headers={"PlatformAccessToken": platform_issuers.mint("ttd")},
    )
    assert response.status_code == 401
    assert response.content == b"" and response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(
            lambda i, bearer: bearer(None, scopes=None, issuer="ttd", extra_claims=_APP), id="bearer-key"
        ),
        pytest.param(lambda i, bearer: i.mint("ttd", signer="digdir"), id="other-issuers-key"),
        pytest.param(lambda i, bearer: i.mint("ttd", **{"urn:altinn:app": None}), id="no-app"),
        pytest.param(lambda i, bearer: i.mint("ttd", ttl=-1), id="expired"),
        pytest.param(lambda i, bearer: i.mint("nav", signer="ttd"), id="issuer-without-keys"),
    ],
)
async def test_platform_access_tokens_that_used_to_pass_are_refused(
    pat_container: Container,
    make_client: ClientFactory,
    make_token: Callable[..., str],
    platform_issuers: PlatformIssuers,
    forge: Callable[[PlatformIssuers, Callable[..., str]], str],
) -> None:
    client = make_client(pat_container)
    response = await client.post(
        f"{V1}/orders/sms",
        json={"body": "x", "recipients": [{"mobileNumber": "+4799999999"}]},
        headers={"PlatformAccessToken": forge(platform_issuers, make_token)},
    )
    assert response.status_code == 401
    assert response.content == b"" and response.headers["www-authenticate"] == "Bearer"


async def test_platform_access_token_outside_the_allow_list_is_refused(
    make_container: Any,
    make_client: ClientFactory,
    settings: Settings,
    platform_issuers: PlatformIssuers,
) -> None:
    trusted = settings.model_copy(
        update={
            "platform_token_keys_dir": platform_issuers.keys_dir,
            "platform_token_allowed_issuers": ["digdir"],
        }
    )
    authenticator = build_authenticator(trusted)
    try:
        client = make_client(make_container(authenticator=authenticator))
        order = {"body": "x", "recipients": [{"mobileNumber": "+4799999999"}]}
        for issuer, status in (("ttd", 401), ("digdir", 202)):
            response = await client.post(
                f"{V1}/orders/sms", json=order, headers={"PlatformAccessToken": platform_issuers.mint(issuer)}
            )
            assert response.status_code == status, issuer
    finally:
        await authenticator.close()


async def test_platform_access_token_sets_the_creator(
    pat_container: Container,
    make_client: ClientFactory,
    make_token: Callable[..., str],
    platform_issuers: PlatformIssuers,
) -> None:
    client = make_client(pat_container)
    platform = platform_issuers.mint("ttd")
    response = await client.post(
        f"{V1}/orders/sms",
        json={"body": "x", "recipients": [{"mobileNumber": "+4799999999"}]},
        headers={"PlatformAccessToken": platform},
    )
    assert response.status_code == 202, response.text
    order = await client.get(
        f"{V1}/orders/{response.json()['orderId']}", headers={"Authorization": f"Bearer {make_token('ttd')}"}
    )
    assert order.json()["creator"] == "ttd"


async def test_health_is_unauthenticated_and_checks_the_database(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.text == "Healthy"


async def test_openapi_document_and_docs(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/swagger/v1/swagger.json")).json()
    assert f"{V1}/orders/email" in spec["paths"]
    assert "HTTPBearer" in spec["components"]["securitySchemes"]
    docs = await client.get("/swagger")
    assert docs.status_code == 200
    assert "swagger-ui" in docs.text.lower()


async def test_unhandled_error_is_a_problem_without_internals(container: Container) -> None:
    app = create_app(container)

    @app.get("/boom")
    async def boom() -> dict[str, Any]:
        raise RuntimeError("secret internals 16069412345")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        response = await http.get("/boom")
    assert response.status_code == 500
    body = response.json()
    assert body["status"] == 500
    assert body["title"] == "An error occurred while processing your request."
    assert "secret" not in response.text and "16069412345" not in response.text
    assert body["traceId"].startswith("00-")


async def test_trace_id_follows_incoming_traceparent(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    response = await client.post(
        f"{V1}/orders/email", json={}, headers={**auth, "traceparent": f"00-{trace}-00f067aa0ba902b7-01"}
    )
    assert response.status_code == 400
    assert response.json()["traceId"].startswith(f"00-{trace}-")

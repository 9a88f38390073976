"""Who gets into the console, and how: passwords, support tokens, one-time links, cookies, CSRF, audit."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from http.cookies import SimpleCookie

import httpx
import pytest
from pydantic import SecretStr

from altinn_notifications.api.app import create_app
from altinn_notifications.bootstrap import Container
from altinn_notifications.cli import prints_console_link
from altinn_notifications.config import SCOPE_CREATE, SCOPE_SUPPORT, Settings
from altinn_notifications.console.security import (
    SESSION_COOKIE,
    ConsoleSigner,
    hash_password,
    password_matches,
)
from tests.conftest import ClientFactory
from tests.console.conftest import PASSWORD, SignIn, csrf_of, sign_in_with


async def _audit(container: Container) -> list[dict[str, object]]:
    async with container.pool.acquire() as conn:
        rows = await conn.fetch("SELECT actor, action, target, outcome FROM consoleaudit ORDER BY id")
    return [dict(r) for r in rows]


def _set_cookies(response: httpx.Response) -> dict[str, SimpleCookie]:
    jar: dict[str, SimpleCookie] = {}
    for header in response.headers.get_list("set-cookie"):
        cookie: SimpleCookie = SimpleCookie()
        cookie.load(header)
        for name in cookie:
            jar[name] = cookie
    return jar


async def test_root_redirects_to_the_console_and_the_console_to_sign_in(client: httpx.AsyncClient) -> None:
    root = await client.get("/")
    assert root.status_code == 303 and root.headers["location"] == "/console"
    console = await client.get("/console")
    assert console.status_code == 303 and console.headers["location"] == "/console/signin"


async def test_the_operator_password_signs_in_and_the_wrong_one_is_refused(
    client: httpx.AsyncClient, container: Container, sign_in: SignIn
) -> None:
    wrong = await sign_in_with(client, method="password", password="not it")
    assert wrong.status_code == 401 and "wrong password" in wrong.text
    assert SESSION_COOKIE not in client.cookies
    empty = await sign_in_with(client, method="password", password="")
    assert empty.status_code == 401
    await sign_in(client)
    assert (await client.get("/console/orders")).status_code == 200
    audit = await _audit(container)
    assert [(a["actor"], a["action"], a["outcome"]) for a in audit] == [
        ("operator", "sign-in", "refused: wrong password"),
        ("operator", "sign-in", "refused: wrong password"),
        ("operator", "sign-in", "ok"),
    ]
    assert all(PASSWORD not in str(a) and "not it" not in str(a) for a in audit)


async def test_no_password_setting_means_no_password_sign_in(
    make_client: ClientFactory, container: Container
) -> None:
    without = dataclasses.replace(
        container, settings=container.settings.model_copy(update={"console_password": None})
    )
    client = make_client(without)
    form = await client.get("/console/signin")
    assert 'value="password"' not in form.text  # the form offers tokens only
    refused = await sign_in_with(client, method="password", password=PASSWORD)
    assert refused.status_code == 401 and "no operator password" in refused.text


def test_hashed_password_settings_are_checked_against_their_hash() -> None:
    hashed = hash_password("s3cret", iterations=1_000)
    assert hashed.startswith("pbkdf2_sha256$1000$") and "s3cret" not in hashed
    assert password_matches("s3cret", hashed)
    assert not password_matches("s3cret ", hashed)
    assert not password_matches("s3cret", "pbkdf2_sha256$broken")
    assert password_matches("plain", "plain") and not password_matches("plain", "plain2")


async def test_hashed_password_setting_signs_in(make_client: ClientFactory, container: Container) -> None:
    hashed = dataclasses.replace(
        container,
        settings=container.settings.model_copy(
            update={"console_password": SecretStr(hash_password("hunter2", iterations=1_000))}
        ),
    )
    client = make_client(hashed)
    assert (await sign_in_with(client, method="password", password="hunter2")).status_code == 303
    assert (await client.get("/console")).status_code == 200


async def test_only_a_valid_token_with_the_support_scope_signs_in(
    client: httpx.AsyncClient,
    container: Container,
    make_token: Callable[..., str],
    make_client: ClientFactory,
) -> None:
    expired = make_token("ttd", scopes=[SCOPE_SUPPORT], ttl_seconds=-60)
    creator = make_token("ttd", scopes=[SCOPE_CREATE])
    for token, why in (("garbage", "not valid"), (expired, "not valid"), (creator, "lacks the scope")):
        response = await sign_in_with(client, method="token", token=token)
        assert response.status_code == 401 and why in response.text
        assert SESSION_COOKIE not in client.cookies
    support = make_token("digdir", scopes=[SCOPE_SUPPORT])
    response = await sign_in_with(client, method="token", token=f"Bearer {support}")
    assert response.status_code == 303
    page = await client.get("/console")
    assert page.status_code == 200 and "token:digdir" in page.text
    staff = make_client(container)  # support staff's tokens need no org
    assert (
        await sign_in_with(staff, method="token", token=make_token(None, scopes=[SCOPE_SUPPORT]))
    ).status_code == 303
    assert "token:support" in (await staff.get("/console")).text
    outcomes = [(a["actor"], a["outcome"]) for a in await _audit(container)]
    assert outcomes[-2:] == [("token:digdir", "ok"), ("token:support", "ok")]
    assert [o for _, o in outcomes[:3]] == [
        "refused: the token is not valid",
        "refused: the token is not valid",
        f"refused: the token lacks the scope {SCOPE_SUPPORT}",
    ]


async def test_session_cookie_is_signed_http_only_strict_and_scoped(
    client: httpx.AsyncClient, make_client: ClientFactory, container: Container
) -> None:
    response = await sign_in_with(client, method="password", password=PASSWORD)
    cookie = _set_cookies(response)[SESSION_COOKIE][SESSION_COOKIE]
    assert cookie["httponly"] is True
    assert cookie["samesite"].lower() == "strict"
    assert cookie["path"] == "/console"
    assert not cookie["secure"]  # the service runs on http here
    assert int(cookie["max-age"]) == int(container.settings.console_session_hours * 3600)
    assert PASSWORD not in cookie.value

    # Built afresh: a copy would keep the original's derived base URI.
    behind_https = Settings(
        database_url=container.settings.database_url,
        data_dir=container.settings.data_dir,
        console_password=SecretStr(PASSWORD),
        base_uri="https://notifications.example",  # type: ignore[arg-type]
    )
    app = create_app(dataclasses.replace(container, settings=behind_https))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="https://testserver"
    ) as tls:
        secure = await sign_in_with(tls, method="password", password=PASSWORD)
    assert _set_cookies(secure)[SESSION_COOKIE][SESSION_COOKIE]["secure"] is True


async def test_a_forged_or_altered_session_cookie_is_not_a_session(
    make_client: ClientFactory, container: Container
) -> None:
    other_secret = ConsoleSigner(b"another secret", session_seconds=3600)
    forged, _ = other_secret.issue_session("operator")
    genuine, _ = container.console_signer.issue_session("operator")
    altered = genuine[:-3] + ("AAA" if not genuine.endswith("AAA") else "BBB")
    for value in (forged, altered, "operator"):
        client = make_client(container)
        client.cookies.set(SESSION_COOKIE, value, path="/console")
        response = await client.get("/console")
        assert response.status_code == 303 and response.headers["location"] == "/console/signin"
    expired = ConsoleSigner(b"x", session_seconds=-1)
    stale, _ = expired.issue_session("operator")
    assert expired.read_session(stale) is None


async def test_changing_forms_need_the_session_csrf_token(
    client: httpx.AsyncClient, container: Container, sign_in: SignIn
) -> None:
    csrf = await sign_in(client)
    for data in ({}, {"csrf": "wrong"}, {"csrf": csrf[:-1]}):
        for path in ("/console/reports/replay", "/console/signout", "/console/reveal", "/console/recipients"):
            response = await client.post(path, data={**data, "all": "1"})
            assert response.status_code == 403, path
    assert not [a for a in await _audit(container) if a["action"] in ("replay", "sign-out", "lookup")]
    done = await client.post("/console/reports/replay", data={"csrf": csrf, "all": "1"})
    assert done.status_code == 200


async def test_the_sign_in_form_is_protected_by_its_own_cookie(
    make_client: ClientFactory, container: Container
) -> None:
    client = make_client(container)
    page = await client.get("/console/signin")
    token = csrf_of(page.text)
    client.cookies.clear()  # a cross-site page posting the form has no such cookie
    response = await client.post(
        "/console/signin", data={"csrf": token, "method": "password", "password": PASSWORD}
    )
    assert response.status_code == 403 and SESSION_COOKIE not in client.cookies


async def test_one_time_link_signs_in_once(make_client: ClientFactory, container: Container) -> None:
    link = container.console_signer.signin_link("")
    first = make_client(container)
    response = await first.get(link)
    assert response.status_code == 200 and 'http-equiv="refresh"' in response.text
    assert (await first.get("/console")).status_code == 200

    again = make_client(container)
    refused = await again.get(link)
    assert refused.status_code == 401 and "not valid" in refused.text
    assert (await again.get("/console")).status_code == 303

    tampered = make_client(container)
    assert (await tampered.get(link[:-2] + "xx")).status_code == 401
    assert (await tampered.get("/console/signin/link")).status_code == 401
    outcomes = [(a["actor"], a["outcome"]) for a in await _audit(container)]
    assert outcomes == [("operator (link)", "ok"), ("operator (link)", "refused: link already used")]


async def test_sign_out_ends_the_session_in_the_browser(client: httpx.AsyncClient, sign_in: SignIn) -> None:
    csrf = await sign_in(client)
    response = await client.post("/console/signout", data={"csrf": csrf})
    assert response.status_code == 303 and response.headers["location"] == "/console/signin"
    assert (await client.get("/console")).status_code == 303


async def test_pages_carry_a_strict_content_security_policy(
    client: httpx.AsyncClient, sign_in: SignIn
) -> None:
    await sign_in(client)
    for path in ("/console", "/console/signin"):
        response = await client.get(path)
        policy = response.headers["content-security-policy"]
        assert "default-src 'none'" in policy and "script-src 'self'" in policy
        assert "frame-ancestors 'none'" in policy
        assert response.headers["cache-control"] == "no-store"


async def test_the_console_can_be_switched_off(make_client: ClientFactory, container: Container) -> None:
    off = dataclasses.replace(
        container, settings=container.settings.model_copy(update={"console_enabled": False})
    )
    client = make_client(off)
    assert (await client.get("/")).status_code == 404
    assert (await client.get("/console")).status_code == 404
    assert (await client.get("/console/signin")).status_code == 404


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({}, True),
        ({"jwks_file": "/etc/keys.json"}, False),
        ({"jwks_file": "/etc/keys.json", "console_signin_link": True}, True),
        ({"console_signin_link": False}, False),
        ({"console_enabled": False}, False),
    ],
)
def test_serve_prints_the_link_with_the_embedded_defaults(
    container: Container, overrides: dict[str, object], expected: bool
) -> None:
    assert prints_console_link(container.settings.model_copy(update=overrides)) is expected


async def test_password_guessing_is_paused_after_too_many_failures(
    make_client: ClientFactory, container: Container, make_token: Callable[..., str]
) -> None:
    strict = dataclasses.replace(
        container, settings=container.settings.model_copy(update={"console_password_failures_per_quarter": 3})
    )
    client = make_client(strict)
    for _ in range(3):
        assert (await sign_in_with(client, method="password", password="guess")).status_code == 401
    paused = await sign_in_with(client, method="password", password=PASSWORD)  # even the right one
    assert paused.status_code == 429 and "Too many wrong passwords" in paused.text
    token = make_token("ttd", scopes=[SCOPE_SUPPORT])
    assert (await sign_in_with(client, method="token", token=token)).status_code == 303
    async with container.pool.acquire() as conn:  # the failures age out of the window
        await conn.execute("UPDATE consoleaudit SET at = at - interval '16 minutes'")
    assert (await sign_in_with(make_client(strict), method="password", password=PASSWORD)).status_code == 303
    outcomes = [a["outcome"] for a in await _audit(container) if a["target"] == "password"]
    assert outcomes == ["refused: wrong password"] * 3 + ["refused: too many failures", "ok"]

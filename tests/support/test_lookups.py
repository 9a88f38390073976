"""Support lookups over HTTP: scope, identifiers in headers, the window's rules and messages, and the
answer grouped per order, newest first (docs/compatibility.md C22)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from altinn_notifications.api.app import create_app
from altinn_notifications.bootstrap import Container
from altinn_notifications.config import SCOPE_CREATE, SCOPE_SUPPORT
from altinn_notifications.support import service
from tests.api.helpers import V1
from tests.support.seeding import Sent, ago, seed_order

BASE = f"{V1}/future/dashboard/recipients/notifications"
NIN = "16069412345"
ORGNO = "810419652"


@pytest.fixture
def support(make_token: Callable[..., str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token('digdir', scopes=[SCOPE_SUPPORT])}"}


async def _get(
    client: httpx.AsyncClient, route: str, headers: dict[str, str], **params: str
) -> httpx.Response:
    return await client.get(f"{BASE}/{route}", headers=headers, params=params)


def _errors(response: httpx.Response) -> dict[str, list[str]]:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["title"] == "One or more validation errors occurred." and body["status"] == 400
    errors: dict[str, list[str]] = body["errors"]
    return errors


# --- authorisation ---


@pytest.mark.parametrize("route", ["nin", "orgnumber", "email"])
async def test_without_a_valid_token_is_401(
    client: httpx.AsyncClient, make_token: Callable[..., str], route: str
) -> None:
    expired = make_token("digdir", scopes=[SCOPE_SUPPORT], ttl_seconds=-60)
    for headers in ({}, {"Authorization": "Bearer garbage"}, {"Authorization": f"Bearer {expired}"}):
        response = await _get(client, route, headers)
        assert response.status_code == 401 and response.content == b""


@pytest.mark.parametrize("route", ["nin", "orgnumber", "email"])
async def test_without_the_support_scope_is_403(
    client: httpx.AsyncClient, make_token: Callable[..., str], route: str
) -> None:
    # The service-owner scope does not grant support lookups, even with a valid identifier.
    owner = {"Authorization": f"Bearer {make_token('ttd', scopes=[SCOPE_CREATE])}"}
    response = await _get(client, route, {**owner, "NationalIdentityNumber": NIN, "Email": "a@b.no"})
    assert response.status_code == 403 and response.content == b""


async def test_the_support_scope_does_not_grant_order_creation(
    client: httpx.AsyncClient, support: dict[str, str]
) -> None:
    response = await client.post(
        f"{V1}/orders/email",
        json={"subject": "s", "body": "b", "recipients": [{"emailAddress": "a@example.no"}]},
        headers=support,
    )
    assert response.status_code == 403


async def test_a_support_token_needs_no_org_and_the_scope_claim_fallback_works(
    client: httpx.AsyncClient, make_token: Callable[..., str]
) -> None:
    claims = {"urn:altinn:scope": None, "scope": f"openid {SCOPE_SUPPORT}"}
    token = make_token(None, extra_claims=claims)
    response = await _get(client, "nin", {"Authorization": f"Bearer {token}", "NationalIdentityNumber": NIN})
    assert response.status_code == 200 and response.json() == []


# --- the identifier ---


@pytest.mark.parametrize(
    ("route", "header"),
    [("nin", "NationalIdentityNumber"), ("orgnumber", "OrganizationNumber"), ("email", "Email")],
)
async def test_a_missing_or_empty_identifier_is_required(
    client: httpx.AsyncClient, support: dict[str, str], route: str, header: str
) -> None:
    for value in (None, "", "   "):
        headers = support if value is None else {**support, header: value}
        errors = _errors(await _get(client, route, headers))
        assert errors == {header: [f"'{header}' is required and cannot be empty"]}


@pytest.mark.parametrize("value", ["1606941234", "160694123456", "1606941234x", "16069 12345"])
async def test_a_national_identity_number_must_be_11_digits(
    client: httpx.AsyncClient, support: dict[str, str], value: str
) -> None:
    errors = _errors(await _get(client, "nin", {**support, "NationalIdentityNumber": value}))
    assert errors == {"NationalIdentityNumber": ["National identity number must be 11 digits long."]}


async def test_a_national_identity_number_is_not_checksummed(
    client: httpx.AsyncClient, support: dict[str, str]
) -> None:
    response = await _get(client, "nin", {**support, "NationalIdentityNumber": "12345678901"})
    assert response.status_code == 200


@pytest.mark.parametrize("value", ["81041965", "8104196521", "81041965a"])
async def test_an_organisation_number_must_be_9_digits(
    client: httpx.AsyncClient, support: dict[str, str], value: str
) -> None:
    errors = _errors(await _get(client, "orgnumber", {**support, "OrganizationNumber": value}))
    assert errors == {"OrganizationNumber": ["Organization number must be 9 digits long."]}


@pytest.mark.parametrize("value", ["not-an-email", "a@b", "a@example.no;b@example.no"])
async def test_an_email_must_be_a_valid_address(
    client: httpx.AsyncClient, support: dict[str, str], value: str
) -> None:
    errors = _errors(await _get(client, "email", {**support, "Email": value}))
    assert errors == {"Email": ["Email must be a valid email address."]}


async def test_the_identifier_is_never_echoed_in_errors(
    client: httpx.AsyncClient, support: dict[str, str]
) -> None:
    response = await _get(client, "nin", {**support, "NationalIdentityNumber": "1606941234"})
    assert "1606941234" not in response.text


# --- the window ---


def _iso(**delta: float) -> str:
    return ago(**delta).isoformat().replace("+00:00", "Z")


async def _window_errors(client: httpx.AsyncClient, support: dict[str, str], **params: str) -> Any:
    return _errors(await _get(client, "nin", {**support, "NationalIdentityNumber": NIN}, **params))


async def test_from_must_be_utc(client: httpx.AsyncClient, support: dict[str, str]) -> None:
    naive = ago(days=1).replace(tzinfo=None).isoformat()
    assert await _window_errors(client, support, **{"from": naive}) == {"From": [service.FROM_NOT_UTC]}


async def test_to_must_be_utc(client: httpx.AsyncClient, support: dict[str, str]) -> None:
    naive = ago(days=1).replace(tzinfo=None).isoformat()
    assert await _window_errors(client, support, to=naive) == {"To": [service.TO_NOT_UTC]}


async def test_an_offset_is_converted_to_utc(client: httpx.AsyncClient, support: dict[str, str]) -> None:
    # As ASP.NET binds it: an explicit offset is converted, only a value without one is "not UTC".
    start = ago(days=2).astimezone().isoformat()
    response = await _get(client, "nin", {**support, "NationalIdentityNumber": NIN}, **{"from": start})
    assert response.status_code == 200


async def test_from_must_be_earlier_than_to(client: httpx.AsyncClient, support: dict[str, str]) -> None:
    same = _iso(days=2)
    errors = await _window_errors(client, support, **{"from": same, "to": same})
    assert errors == {"From": [service.FROM_NOT_BEFORE_TO]}
    errors = await _window_errors(client, support, **{"from": _iso(days=1), "to": _iso(days=2)})
    assert errors == {"From": [service.FROM_NOT_BEFORE_TO]}


async def test_from_must_not_be_in_the_future(client: httpx.AsyncClient, support: dict[str, str]) -> None:
    # Without `to` (now), a future `from` is also not earlier than it.
    errors = await _window_errors(client, support, **{"from": _iso(days=-1)})
    assert errors == {"From": [service.FROM_NOT_BEFORE_TO, service.FROM_IN_FUTURE]}


async def test_from_must_not_be_more_than_10_years_ago(
    client: httpx.AsyncClient, support: dict[str, str]
) -> None:
    errors = await _window_errors(client, support, **{"from": _iso(days=366 * 10 + 3)})
    assert errors == {"From": [service.FROM_TOO_OLD]}
    response = await _get(
        client, "nin", {**support, "NationalIdentityNumber": NIN}, **{"from": _iso(days=365 * 9)}
    )
    assert response.status_code == 200


async def test_to_must_not_be_in_the_future(client: httpx.AsyncClient, support: dict[str, str]) -> None:
    errors = await _window_errors(client, support, to=_iso(hours=-1))
    assert errors == {"To": [service.TO_IN_FUTURE]}


async def test_to_alone_must_be_later_than_the_default_from(
    client: httpx.AsyncClient, support: dict[str, str]
) -> None:
    errors = await _window_errors(client, support, to=_iso(days=8))
    assert errors == {"To": [service.TO_BEFORE_DEFAULT_FROM]}
    # With a `from`, an older `to` is fine.
    response = await _get(
        client,
        "nin",
        {**support, "NationalIdentityNumber": NIN},
        **{"from": _iso(days=30), "to": _iso(days=8)},
    )
    assert response.status_code == 200


async def test_every_broken_rule_is_reported_at_once(
    client: httpx.AsyncClient, support: dict[str, str]
) -> None:
    response = await _get(
        client, "orgnumber", {**support, "OrganizationNumber": "1"}, **{"to": _iso(hours=-2)}
    )
    assert _errors(response) == {
        "To": [service.TO_IN_FUTURE],
        "OrganizationNumber": ["Organization number must be 9 digits long."],
    }


async def test_a_value_that_is_no_date_is_a_binding_error(
    client: httpx.AsyncClient, support: dict[str, str]
) -> None:
    errors = await _window_errors(client, support, **{"from": "yesterday"})
    assert errors == {"From": ["The value 'yesterday' is not valid for From."]}


async def test_query_names_are_case_insensitive(client: httpx.AsyncClient, support: dict[str, str]) -> None:
    errors = await _window_errors(client, support, To=_iso(days=8))
    assert errors == {"To": [service.TO_BEFORE_DEFAULT_FROM]}


# --- the answer ---


async def test_results_are_grouped_per_order_newest_first(
    client: httpx.AsyncClient, support: dict[str, str], container: Container
) -> None:
    older = await seed_order(
        container,
        [Sent("sms", "+4798765432", nin=NIN, result="Accepted")],
        send_time=ago(days=3),
        creator="nav",
    )
    newer = await seed_order(
        container,
        [
            Sent("email", "ola@example.no", nin=NIN, result="Failed_InvalidEmailFormat"),
            Sent("sms", "+4798765432", nin=NIN),
            Sent("email", "someone.else@example.no", nin="01010112345"),
        ],
        send_time=ago(days=1),
        senders_reference="ref-1",
        resource_id="urn:altinn:resource:ttd_example",
    )
    await seed_order(container, [Sent("email", "x@example.no", nin=NIN)], send_time=ago(days=9))
    await seed_order(container, [Sent("email", "y@example.no", nin="01010112345")], send_time=ago(days=1))

    response = await _get(client, "nin", {**support, "NationalIdentityNumber": NIN})
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    body = response.json()
    assert [o["shipmentId"] for o in body] == [str(newer), str(older)]  # the 9-day-old one is outside
    first, second = body
    assert set(first) == {
        "shipmentId",
        "creatorName",
        "resourceId",
        "sendersReference",
        "requestedSendTime",
        "notificationChannel",
        "notificationType",
        "deliveryAttempts",
    }
    assert (first["creatorName"], first["sendersReference"], first["resourceId"]) == (
        "ttd",
        "ref-1",
        "urn:altinn:resource:ttd_example",
    )
    assert (first["notificationChannel"], first["notificationType"]) == ("EmailAndSms", "Notification")
    assert first["requestedSendTime"].endswith("Z")
    assert [{k: v for k, v in a.items() if k != "resultTime"} for a in first["deliveryAttempts"]] == [
        {
            "nationalIdentityNumber": NIN,
            "channel": "email",
            "emailAddress": "ola@example.no",
            "result": "Email_Failed_InvalidFormat",
        },
        {
            "nationalIdentityNumber": NIN,
            "channel": "sms",
            "mobileNumber": "+4798765432",
            "result": "SMS_Delivered",
        },
    ]
    # Order-level members are present even when null.
    assert (second["creatorName"], second["sendersReference"], second["resourceId"]) == ("nav", None, None)
    assert [a["result"] for a in second["deliveryAttempts"]] == ["SMS_Accepted"]


async def test_the_window_is_from_inclusive_to_exclusive(
    client: httpx.AsyncClient, support: dict[str, str], container: Container
) -> None:
    at = ago(days=2).replace(microsecond=0)
    order = await seed_order(container, [Sent("email", "a@example.no", orgno=ORGNO)], send_time=at)
    stamp = at.isoformat().replace("+00:00", "Z")
    headers = {**support, "OrganizationNumber": ORGNO}
    inclusive = await _get(client, "orgnumber", headers, **{"from": stamp, "to": _iso(days=1)})
    assert [o["shipmentId"] for o in inclusive.json()] == [str(order)]
    exclusive = await _get(client, "orgnumber", headers, **{"from": _iso(days=3), "to": stamp})
    assert exclusive.json() == []


async def test_organisation_lookup_shows_the_organisation_number_only(
    client: httpx.AsyncClient, support: dict[str, str], container: Container
) -> None:
    await seed_order(
        container,
        [Sent("email", "post@firma.no", orgno=ORGNO), Sent("sms", "+4741234567", nin=NIN, orgno=ORGNO)],
        send_time=ago(hours=5),
    )
    body = (await _get(client, "orgnumber", {**support, "OrganizationNumber": ORGNO})).json()
    assert [{k: v for k, v in a.items() if k != "resultTime"} for a in body[0]["deliveryAttempts"]] == [
        {
            "organizationNumber": ORGNO,
            "channel": "email",
            "emailAddress": "post@firma.no",
            "result": "Email_Delivered",
        },
        {
            "organizationNumber": ORGNO,
            "channel": "sms",
            "mobileNumber": "+4741234567",
            "result": "SMS_Delivered",
        },
    ]


async def test_email_lookup_is_case_insensitive_and_shows_no_identifiers(
    client: httpx.AsyncClient, support: dict[str, str], container: Container
) -> None:
    order = await seed_order(
        container,
        [Sent("email", "Ola.Nordmann@Example.no", nin=NIN), Sent("sms", "+4798765432", nin=NIN)],
        send_time=ago(hours=5),
    )
    await seed_order(container, [Sent("email", "ola.nordmann@example.com")], send_time=ago(hours=5))
    body = (await _get(client, "email", {**support, "Email": " ola.nordmann@EXAMPLE.NO "})).json()
    assert [o["shipmentId"] for o in body] == [str(order)]
    [attempt] = body[0]["deliveryAttempts"]
    assert set(attempt) == {"channel", "emailAddress", "result", "resultTime"}
    assert attempt["emailAddress"] == "Ola.Nordmann@Example.no"


async def test_nothing_found_is_an_empty_array(client: httpx.AsyncClient, support: dict[str, str]) -> None:
    response = await _get(client, "email", {**support, "Email": "nobody@example.no"})
    assert response.status_code == 200 and response.json() == []


async def test_a_client_that_went_away_gets_499(container: Container, support: dict[str, str]) -> None:
    """Driven at the ASGI level: the request arrives, then the client is gone (`http.disconnect`)."""

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    path = f"{BASE}/nin"
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"testserver"),
            (b"authorization", support["Authorization"].encode()),
            (b"nationalidentitynumber", NIN.encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    await create_app(container)(scope, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = json.loads(b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body"))
    assert status == 499 and (body["status"], body["code"]) == (499, "NOT-00002")

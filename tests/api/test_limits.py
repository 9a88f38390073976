"""Limits on every input (README "Limits"): body size (413), field lengths and counts (400 validation
problems in the reference's shape), and large bodies parsed off the event loop."""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from altinn_notifications.bootstrap import Container
from altinn_notifications.orders import rules
from tests.api.helpers import V1
from tests.conftest import ClientFactory, ContainerFactory

LIMIT = 64 * 1024

EMAIL_ORDER: dict[str, Any] = {
    "subject": "Subject",
    "body": "Body",
    "recipients": [{"emailAddress": "someone@example.no"}],
}


def _chain(**changes: Any) -> dict[str, Any]:
    order: dict[str, Any] = {
        "idempotencyId": "limits-1",
        "recipient": {
            "recipientEmail": {
                "emailAddress": "someone@example.no",
                "emailSettings": {"subject": "Subject", "body": "Body"},
            }
        },
    }
    order.update(changes)
    return order


@pytest.fixture
def limited(make_container: ContainerFactory, container: Container) -> Container:
    settings = container.settings.model_copy(
        update={"max_request_body_bytes": LIMIT, "max_recipients_per_order": 3, "max_reminders_per_order": 2}
    )
    return make_container(settings=settings)


@pytest.fixture
def http(limited: Container, make_client: ClientFactory) -> httpx.AsyncClient:
    return make_client(limited)


def _assert_too_large(response: httpx.Response) -> None:
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["connection"] == "close"
    body = response.json()
    assert body["type"] == "https://tools.ietf.org/html/rfc9110#section-15.5.14"
    assert body["title"] == "Content Too Large"
    assert body["status"] == 413
    assert body["detail"] == f"The request body must not be larger than {LIMIT} bytes."
    assert body["traceId"].startswith("00-")


async def test_body_over_the_limit_is_413_problem_details(
    http: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    order = {**EMAIL_ORDER, "body": "x" * LIMIT}
    _assert_too_large(await http.post(f"{V1}/orders/email", json=order, headers=auth))


async def test_chunked_body_is_cut_off_at_the_limit(http: httpx.AsyncClient, auth: dict[str, str]) -> None:
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        for _ in range(1000):  # 16 MB if read to the end
            sent += 1
            yield b" " * 16384

    response = await http.post(
        f"{V1}/orders/email", content=chunks(), headers={**auth, "content-type": "application/json"}
    )
    _assert_too_large(response)
    assert sent <= LIMIT // 16384 + 2  # nothing past the limit was read


async def test_body_at_the_limit_is_read(http: httpx.AsyncClient, auth: dict[str, str]) -> None:
    order = {**EMAIL_ORDER, "body": ""}
    padding = LIMIT - len(json.dumps(order))
    order["body"] = "x" * padding
    content = json.dumps(order).encode()
    assert len(content) == LIMIT
    response = await http.post(
        f"{V1}/orders/email", content=content, headers={**auth, "content-type": "application/json"}
    )
    assert response.status_code == 202, response.text


@pytest.mark.parametrize(
    ("path", "order", "key", "message"),
    [
        (
            "/orders/email",
            {**EMAIL_ORDER, "recipients": [{"emailAddress": "a" * 244 + "@example.no"}]},
            "Recipients[0].EmailAddress",
            "Invalid email address format.",
        ),
        (
            "/orders/email",
            {**EMAIL_ORDER, "conditionEndpoint": "https://example.no/?" + "q" * 2030},
            "ConditionEndpoint",
            "ConditionEndpoint must not be longer than 2048 characters.",
        ),
        (
            "/orders/email",
            {**EMAIL_ORDER, "subject": "s" * 999},
            "Subject",
            "Subject must not be longer than 998 characters.",
        ),
        (
            "/orders",
            {
                "notificationChannel": "Sms",
                "smsTemplate": {"body": "b" * 2449},
                "recipients": [{"mobileNumber": "+4799999999"}],
            },
            "SmsTemplate.Body",
            "Body must not be longer than 2448 characters.",
        ),
        (
            "/orders/email",
            {**EMAIL_ORDER, "recipients": [{"emailAddress": f"r{i}@example.no"} for i in range(4)]},
            "Recipients",
            "The number of recipients must not be more than 3.",
        ),
        (
            "/future/orders",
            _chain(conditionEndpoint="https://example.no/?" + "q" * 2030),
            "ConditionEndpoint",
            "ConditionEndpoint must not be longer than 2048 characters.",
        ),
        (
            "/future/orders",
            _chain(reminders=[{"delayDays": d + 1, "recipient": _chain()["recipient"]} for d in range(3)]),
            "Reminders",
            "The number of reminders must not be more than 2.",
        ),
    ],
)
async def test_limits_answer_the_reference_validation_problem(
    http: httpx.AsyncClient, auth: dict[str, str], path: str, order: dict[str, Any], key: str, message: str
) -> None:
    response = await http.post(V1 + path, json=order, headers=auth)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["title"] == "One or more validation errors occurred."
    assert body["status"] == 400
    assert body["errors"] == {key: [message]}


async def test_email_body_over_its_limit_is_refused_within_the_default_request_limit(
    container: Container, make_client: ClientFactory, auth: dict[str, str]
) -> None:
    order = _chain()
    order["recipient"]["recipientEmail"]["emailSettings"]["body"] = "b" * (rules.MAX_EMAIL_BODY_LENGTH + 1)
    response = await make_client(container).post(f"{V1}/future/orders", json=order, headers=auth)
    assert response.status_code == 400, response.text
    assert response.json()["errors"] == {
        "Recipient.RecipientEmail.Settings.Body": ["Body must not be longer than 1000000 characters."]
    }


# --- large bodies are parsed off the event loop ---


@pytest.fixture
def parse_threads(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """For each JSON document parsed, whether it was parsed on the main (event-loop) thread."""
    on_main: list[bool] = []
    real: Callable[..., Any] = json.loads

    def recording(document: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(document, bytes | bytearray) and len(document) > 10_000:
            on_main.append(threading.current_thread() is threading.main_thread())
        return real(document, *args, **kwargs)

    monkeypatch.setattr(json, "loads", recording)
    return on_main


async def test_large_order_is_parsed_and_bound_off_the_event_loop(
    container: Container, make_client: ClientFactory, auth: dict[str, str], parse_threads: list[bool]
) -> None:
    http = make_client(container)  # default limits: 5 MiB body, 64 KiB parsed off the loop
    order = {**EMAIL_ORDER, "recipients": [{"emailAddress": f"r{i}@example.no"} for i in range(5000)]}
    send_time = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    response = await http.post(
        f"{V1}/orders/email", json={**order, "requestedSendTime": send_time}, headers=auth
    )
    assert response.status_code == 202, response.text
    assert parse_threads == [False]  # parsed once, in a worker thread


async def test_large_invalid_order_answers_as_a_small_one(
    container: Container, make_client: ClientFactory, auth: dict[str, str]
) -> None:
    http = make_client(container)
    recipients = [{"emailAddress": f"r{i}@example.no"} for i in range(5000)]
    large = await http.post(
        f"{V1}/orders/email", json={**EMAIL_ORDER, "subject": 7, "recipients": recipients}, headers=auth
    )
    small = await http.post(f"{V1}/orders/email", json={**EMAIL_ORDER, "subject": 7}, headers=auth)
    assert large.status_code == small.status_code == 400
    assert (
        large.json()["errors"]
        == small.json()["errors"]
        == {"$.subject": ["The JSON value could not be converted. Path: $.subject."]}
    )

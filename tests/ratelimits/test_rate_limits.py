"""Per-sender rate limits and daily quotas (README "Rate limits and quotas"): 429 ProblemDetails with
`Retry-After`, counted in PostgreSQL so that every API process shares one allowance per creator."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from altinn_notifications.bootstrap import Container
from altinn_notifications.config import RateLimits
from altinn_notifications.db.pool import create_pool
from tests.api.helpers import V1
from tests.conftest import ClientFactory, ContainerFactory

# Practically no refill during a test: what a test sees is the burst alone.
SLOW = 0.0001


def order(recipients: int = 1) -> dict[str, Any]:
    return {
        "subject": "Subject",
        "body": "Body",
        "recipients": [{"emailAddress": f"r{i}@example.no"} for i in range(recipients)],
    }


LimitedClient = Callable[..., httpx.AsyncClient]


@pytest.fixture
def limited(
    make_container: ContainerFactory, container: Container, make_client: ClientFactory
) -> LimitedClient:
    def build(default: RateLimits | None = None, **by_org: RateLimits) -> httpx.AsyncClient:
        settings = container.settings.model_copy(
            update={"rate_limits": default or RateLimits(), "rate_limits_by_org": by_org}
        )
        return make_client(make_container(settings=settings))

    return build


async def _post(http: httpx.AsyncClient, headers: dict[str, str], recipients: int = 1) -> httpx.Response:
    return await http.post(f"{V1}/orders/email", json=order(recipients), headers=headers)


def _assert_429(response: httpx.Response, detail: str) -> int:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == "https://tools.ietf.org/html/rfc6585#section-4"
    assert body["title"] == "Too Many Requests"
    assert body["status"] == 429
    assert body["detail"] == detail
    assert body["traceId"].startswith("00-")
    retry_after = int(response.headers["retry-after"])
    assert retry_after >= 1
    return retry_after


async def _bucket_rows(container: Container) -> int:
    async with container.pool.acquire() as conn:
        count: int = await conn.fetchval("SELECT count(*) FROM senderallowances")
        return count


async def test_off_by_default_and_then_costs_no_statement(
    client: httpx.AsyncClient, container: Container, auth: dict[str, str]
) -> None:
    for _ in range(20):
        assert (await _post(client, auth)).status_code == 202
    assert await _bucket_rows(container) == 0


async def test_request_bucket_refuses_past_its_burst_and_spares_other_senders(
    limited: LimitedClient, auth: dict[str, str], auth_for: Callable[[str], dict[str, str]]
) -> None:
    http = limited(RateLimits(requests_per_second=SLOW, requests_burst=2))
    assert (await _post(http, auth)).status_code == 202
    assert (await _post(http, auth)).status_code == 202
    retry_after = _assert_429(await _post(http, auth), f"At most {SLOW:g} requests per second.")
    assert retry_after > 60  # one token at 0.0001/s takes hours
    # Reads count too; another sender has its own bucket.
    _assert_429(
        await http.get(f"{V1}/orders?sendersReference=x", headers=auth),
        f"At most {SLOW:g} requests per second.",
    )
    assert (await _post(http, auth_for("digdir"))).status_code == 202


async def test_a_bucket_refilled_after_the_takers_transaction_began_never_loses_tokens(
    limited: LimitedClient, container: Container, auth: dict[str, str]
) -> None:
    """A take's `now()` is its transaction's start (a batch of takes, a lock wait): it may meet a row
    another transaction refilled later. Time never runs backwards for the bucket."""
    http = limited(RateLimits(requests_per_second=1.0, requests_burst=5))
    assert (await _post(http, auth)).status_code == 202
    async with container.pool.acquire() as conn:  # as if refilled a minute after this take began
        await conn.execute(
            "UPDATE senderallowances SET requesttokens = 1, refilledat = now() + interval '1 minute'"
        )
    assert (await _post(http, auth)).status_code == 202  # the token is there: not 1 - 60 s × 1/s


async def test_refilled_bucket_accepts_again(limited: LimitedClient, auth: dict[str, str]) -> None:
    http = limited(RateLimits(requests_per_second=1000, requests_burst=1))
    accepted = 0
    for _ in range(50):  # a token every millisecond: each request finds one again before long
        response = await _post(http, auth)
        accepted += response.status_code == 202
        if response.status_code == 429:
            await asyncio.sleep(0.01)
    assert accepted >= 2


async def test_notification_bucket_counts_recipients(limited: LimitedClient, auth: dict[str, str]) -> None:
    http = limited(RateLimits(notifications_per_second=SLOW, notifications_burst=3))
    assert (await _post(http, auth, recipients=2)).status_code == 202
    _assert_429(await _post(http, auth, recipients=2), f"At most {SLOW:g} notifications per second.")
    assert (await _post(http, auth, recipients=1)).status_code == 202  # what is left still fits


async def test_order_larger_than_the_burst_passes_on_a_full_bucket_and_leaves_debt(
    limited: LimitedClient, auth: dict[str, str]
) -> None:
    http = limited(RateLimits(notifications_per_second=SLOW, notifications_burst=3))
    assert (await _post(http, auth, recipients=10)).status_code == 202
    _assert_429(await _post(http, auth, recipients=1), f"At most {SLOW:g} notifications per second.")


async def test_daily_quota_waits_until_midnight(limited: LimitedClient, auth: dict[str, str]) -> None:
    http = limited(RateLimits(daily_notifications=3))
    assert (await _post(http, auth, recipients=2)).status_code == 202
    retry_after = _assert_429(
        await _post(http, auth, recipients=2),
        "The daily quota of 3 notifications is used up until midnight UTC.",
    )
    assert retry_after <= 86400
    assert (await _post(http, auth, recipients=1)).status_code == 202


async def test_an_orgs_own_entry_replaces_the_default(
    limited: LimitedClient, auth: dict[str, str], auth_for: Callable[[str], dict[str, str]]
) -> None:
    http = limited(RateLimits(requests_per_second=SLOW, requests_burst=1), digdir=RateLimits())
    assert (await _post(http, auth)).status_code == 202
    assert (await _post(http, auth)).status_code == 429
    for _ in range(5):
        assert (await _post(http, auth_for("digdir"))).status_code == 202


async def test_v2_orders_count_the_main_order_and_its_reminders(
    limited: LimitedClient, auth: dict[str, str]
) -> None:
    http = limited(RateLimits(notifications_per_second=SLOW, notifications_burst=3))
    recipient = {
        "recipientEmail": {"emailAddress": "a@example.no", "emailSettings": {"subject": "s", "body": "b"}}
    }
    chain = {
        "idempotencyId": "rate-1",
        "recipient": recipient,
        "reminders": [{"delayDays": 1, "recipient": recipient}, {"delayDays": 2, "recipient": recipient}],
    }
    assert (await http.post(f"{V1}/future/orders", json=chain, headers=auth)).status_code == 201
    second = await http.post(f"{V1}/future/orders", json={**chain, "idempotencyId": "rate-2"}, headers=auth)
    _assert_429(second, f"At most {SLOW:g} notifications per second.")


@pytest.fixture
async def second_process(container: Container, make_container: ContainerFactory) -> AsyncIterator[Container]:
    """A container with a pool of its own: what a second API process shares is the database alone."""
    pool = await create_pool(container.database_url, min_size=1, max_size=10)
    try:
        yield make_container(pool=pool)
    finally:
        await pool.close()


async def test_processes_share_one_allowance(
    container: Container,
    second_process: Container,
    make_container: ContainerFactory,
    make_client: ClientFactory,
    auth: dict[str, str],
) -> None:
    update = {"rate_limits": RateLimits(requests_per_second=SLOW, requests_burst=7)}
    first = make_client(make_container(settings=container.settings.model_copy(update=update)))
    other = make_client(
        make_container(pool=second_process.pool, settings=container.settings.model_copy(update=update))
    )
    answers = await asyncio.gather(*(_post(http, auth) for http in [first, other] * 15))
    assert Counter(a.status_code for a in answers) == Counter({202: 7, 429: 23})

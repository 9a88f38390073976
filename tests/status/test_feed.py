"""GET future/shipment/feed: paging, the 2-second rule, scoping and validation (docs/compatibility.md C9).

Entries are written the way production writes them: an order placed through the API, notification rows,
status `Processed`, then `complete_orders`. The 2-second visibility delay is simulated by moving the
entries' `created` back in SQL.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

import httpx
import pytest

from altinn_notifications.bootstrap import Container
from altinn_notifications.status import repository as feed
from altinn_notifications.status.completion import complete_orders
from tests.api.helpers import V1, add_notification, set_order_status

FEED = f"{V1}/future/shipment/feed"


async def _complete(container: Container, order_ids: list[str]) -> None:
    async with container.transaction() as conn:
        internal = await conn.fetchval(
            "SELECT array_agg(_id) FROM orders WHERE alternateid = ANY($1::uuid[])",
            [UUID(o) for o in order_ids],
        )
        assert len(await complete_orders(conn, internal)) == len(order_ids)


async def _finished_order(
    client: httpx.AsyncClient, headers: dict[str, str], container: Container, reference: str
) -> str:
    """An order whose notifications are final, completed: one feed entry."""
    response = await client.post(
        f"{V1}/orders/email",
        json={
            "sendersReference": reference,
            "subject": "s",
            "body": "b",
            "recipients": [{"emailAddress": "a@b.no"}],
        },
        headers=headers,
    )
    assert response.status_code == 202, response.text
    order_id: str = response.json()["orderId"]
    await add_notification(container, order_id, "email", "Delivered", "a@b.no")
    await add_notification(container, order_id, "sms", "Failed_InvalidReceiver", "+4799999999")
    await set_order_status(container, order_id, "Processed")
    await _complete(container, [order_id])
    return order_id


async def _age_entries(container: Container, seconds: float = 3) -> None:
    async with container.pool.acquire() as conn:
        await conn.execute("UPDATE statusfeed SET created = created - $1 * interval '1 second'", seconds)


async def _feed(client: httpx.AsyncClient, headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    response = await client.get(FEED, params=params, headers=headers)
    assert response.status_code == 200, response.text
    entries: list[dict[str, Any]] = response.json()
    return entries


def _seqs(entries: list[dict[str, Any]]) -> list[int]:
    return [e["sequenceNumber"] for e in entries]


async def test_entries_younger_than_two_seconds_are_hidden(
    client: httpx.AsyncClient, auth: dict[str, str], container: Container
) -> None:
    order_id = await _finished_order(client, auth, container, "ref-a")
    assert await _feed(client, auth) == []

    await _age_entries(container, 1)  # still in the 2-second window
    assert await _feed(client, auth) == []

    await _age_entries(container, 2)
    [entry] = await _feed(client, auth)
    assert isinstance(entry["sequenceNumber"], int)
    assert entry["shipmentId"] == order_id
    assert entry["sendersReference"] == "ref-a"
    assert entry["shipmentType"] == "Notification"
    assert entry["status"] == "Order_Completed"
    assert entry["lastUpdate"].endswith("Z")
    assert [(r["destination"], r["status"]) for r in entry["recipients"]] == [
        ("a@b.no", "Email_Delivered"),
        ("+4799999999", "SMS_Failed_InvalidRecipient"),
    ]
    assert all(r["lastUpdate"].endswith("Z") for r in entry["recipients"])


async def test_pages_ascending_from_the_cursor(
    client: httpx.AsyncClient, auth: dict[str, str], container: Container
) -> None:
    for i in range(5):
        await _finished_order(client, auth, container, f"ref-{i}")
    await _age_entries(container)
    everything = _seqs(await _feed(client, auth))
    assert len(everything) == 5
    assert everything == sorted(everything)

    first = await _feed(client, auth, seq=0, pageSize=2)
    assert [e["sendersReference"] for e in first] == ["ref-0", "ref-1"]
    second = await _feed(client, auth, seq=_seqs(first)[-1], pageSize=2)
    assert _seqs(second) == everything[2:4]
    third = await _feed(client, auth, seq=_seqs(second)[-1], pageSize=2)
    assert _seqs(third) == everything[4:]
    assert await _feed(client, auth, seq=everything[-1]) == []
    # The default order is ascending, spelled any way.
    assert _seqs(await _feed(client, auth, orderBy="ASC")) == everything
    assert _seqs(await _feed(client, auth, orderBy="0")) == everything


@pytest.mark.parametrize("order_by", ["Desc", "desc", "DESC", "1"])
async def test_pages_descending_from_the_newest_or_the_cursor(
    client: httpx.AsyncClient, auth: dict[str, str], container: Container, order_by: str
) -> None:
    for i in range(5):
        await _finished_order(client, auth, container, f"ref-{i}")
    await _age_entries(container)
    everything = _seqs(await _feed(client, auth))

    newest = await _feed(client, auth, orderBy=order_by, pageSize=2)
    assert _seqs(newest) == everything[:2:-1][:2]
    assert [e["sendersReference"] for e in newest] == ["ref-4", "ref-3"]
    older = await _feed(client, auth, orderBy=order_by, seq=_seqs(newest)[-1], pageSize=2)
    assert _seqs(older) == [everything[2], everything[1]]
    oldest = await _feed(client, auth, orderBy=order_by, seq=_seqs(older)[-1], pageSize=2)
    assert _seqs(oldest) == [everything[0]]
    assert await _feed(client, auth, orderBy=order_by, seq=everything[0]) == []
    # The tail of the feed: `orderBy=desc&pageSize=1`.
    assert _seqs(await _feed(client, auth, orderBy=order_by, pageSize=1)) == [everything[-1]]


async def _many_finished_orders(container: Container, count: int) -> None:
    """`count` orders that completed without notifications (e.g. all recipients failed at generation)."""
    async with container.transaction() as conn:
        ids = await conn.fetchval(
            """
            WITH o AS (
                INSERT INTO orders (alternateid, creatorname, sendersreference, created, requestedsendtime,
                                    processed, processedstatus, notificationorder)
                SELECT gen_random_uuid(), 'ttd', 'bulk-' || g, now(), now(), now(), 'Processed', '{}'::jsonb
                FROM generate_series(1, $1) g
                RETURNING _id
            )
            SELECT array_agg(_id) FROM o
            """,
            count,
        )
        assert len(await complete_orders(conn, ids)) == count


@pytest.mark.parametrize(("page_size", "expected"), [(0, 1), (-7, 1), (1, 1), (499, 499), (1000, 500)])
async def test_page_size_is_clamped_into_1_to_500(
    client: httpx.AsyncClient, auth: dict[str, str], container: Container, page_size: int, expected: int
) -> None:
    await _many_finished_orders(container, 501)
    await _age_entries(container)
    assert len(await _feed(client, auth, pageSize=page_size)) == expected
    assert len(await _feed(client, auth, pageSize=page_size, orderBy="Desc")) == expected


async def test_default_page_size_is_500(
    client: httpx.AsyncClient, auth: dict[str, str], container: Container
) -> None:
    await _many_finished_orders(container, 501)
    await _age_entries(container)
    entries = await _feed(client, auth)
    assert len(entries) == 500
    assert entries[0]["status"] == "Order_Completed"
    assert entries[0]["recipients"] == []


async def test_other_orgs_entries_are_invisible(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    auth_for: Callable[[str], dict[str, str]],
    container: Container,
) -> None:
    mine = await _finished_order(client, auth, container, "mine")
    theirs = await _finished_order(client, auth_for("digdir"), container, "theirs")
    await _age_entries(container)

    assert [e["shipmentId"] for e in await _feed(client, auth)] == [mine]
    assert [e["shipmentId"] for e in await _feed(client, auth, orderBy="Desc")] == [mine]
    assert [e["shipmentId"] for e in await _feed(client, auth_for("digdir"))] == [theirs]
    assert await _feed(client, auth_for("skd")) == []


async def test_negative_sequence_number_is_a_validation_problem(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    response = await client.get(FEED, params={"seq": -1}, headers=auth)
    assert response.status_code == 400
    body = response.json()
    assert body["title"] == "One or more validation errors occurred."
    assert body["errors"] == {"Seq": ["Sequence number cannot be less than 0."]}
    assert body["type"] == "https://tools.ietf.org/html/rfc9110#section-15.5.1"


async def test_unknown_order_by_is_a_validation_problem(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    response = await client.get(FEED, params={"orderBy": "sideways"}, headers=auth)
    assert response.status_code == 400
    assert response.json()["errors"] == {"OrderBy": ["The value 'sideways' is not valid for OrderBy."]}


async def test_malformed_numbers_are_rejected(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    for params in ({"seq": "abc"}, {"pageSize": "many"}, {"seq": str(2**63)}):
        response = await client.get(FEED, params=params, headers=auth)
        assert response.status_code == 400, params


async def test_feed_needs_a_token(client: httpx.AsyncClient) -> None:
    assert (await client.get(FEED)).status_code == 401


@pytest.mark.parametrize("descending", [False, True])
async def test_pages_are_range_scans_of_the_creator_index(container: Container, descending: bool) -> None:
    query = feed._PAGE_DESC if descending else feed._PAGE_ASC
    async with container.transaction() as conn:
        await conn.execute("SET LOCAL enable_seqscan = off")
        await conn.execute("SET LOCAL enable_bitmapscan = off")
        await conn.execute("SET LOCAL enable_sort = off")
        plan = await conn.fetchval(
            f"EXPLAIN (FORMAT JSON) {query}", "ttd", 10, feed.FEED_VISIBILITY_DELAY, 500
        )
    nodes = []
    pending = [plan[0]["Plan"]]
    while pending:
        nodes.append(pending.pop())
        pending.extend(nodes[-1].get("Plans", []))
    assert [n["Node Type"] for n in nodes] == ["Limit", "Index Scan"]  # no sort, no other scan
    scan = nodes[1]
    assert scan["Index Name"] == "ix_statusfeed_creator_id"
    assert "creatorname" in scan["Index Cond"] and "_id " in scan["Index Cond"]
    assert scan["Scan Direction"] == ("Backward" if descending else "Forward")


def _nodes(plan: Any) -> list[dict[str, Any]]:
    found, pending = [], [plan[0]["Plan"]]
    while pending:
        found.append(pending.pop())
        pending.extend(found[-1].get("Plans", []))
    return found


async def test_planner_never_walks_the_primary_key_for_a_creator(container: Container) -> None:
    """Skewed data as in production: the biggest org's entries are all old, the others busy since.

    A walk of the primary key filtered on the creator (cheap on average for a big org, here a scan of the
    20k newer entries for `old`) must not be chosen; the creator index serves every page.
    """
    async with container.transaction() as conn:
        await conn.execute(
            """
            INSERT INTO orders (alternateid, creatorname, created, requestedsendtime, processed, processedstatus,
                                notificationorder)
            SELECT gen_random_uuid(),
                   CASE WHEN g <= 30000 THEN 'old' ELSE (ARRAY['ttd', 'digdir', 'nav', 'skd'])[1 + g % 4] END,
                   now(), now(), now(), 'Completed', '{}'::jsonb
            FROM generate_series(1, 50000) g
            """
        )
        await conn.execute(
            """INSERT INTO statusfeed (orderid, creatorname, created, orderstatus)
               SELECT _id, creatorname, now() - interval '1 hour', '{}'::jsonb FROM orders ORDER BY _id"""
        )
        await conn.execute("ANALYZE statusfeed")
        top = await conn.fetchval("SELECT max(_id) FROM statusfeed")
        cases = [
            (feed._PAGE_ASC, "old", 29000),  # asc near the creator's last entry
            (feed._PAGE_DESC, "old", 2**63 - 1),  # desc from the newest: nothing of `old` for 20k entries
            (feed._PAGE_ASC, "ttd", 0),
            (feed._PAGE_DESC, "ttd", 2**63 - 1),
            (feed._PAGE_DESC, "ttd", top - 100),
        ]
        for query, creator, seq in cases:
            plan = await conn.fetchval(
                f"EXPLAIN (FORMAT JSON) {query}", creator, seq, feed.FEED_VISIBILITY_DELAY, 500
            )
            scans = [n for n in _nodes(plan) if "Scan" in n["Node Type"]]
            assert [n.get("Index Name") for n in scans] == ["ix_statusfeed_creator_id"], (creator, seq, plan)

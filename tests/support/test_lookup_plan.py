"""A lookup over a year of data for one recipient reads that recipient's rows through an index, never
a scan of the notification tables (the plan, by `EXPLAIN`, over enough rows for the planner to choose
as it would in production)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from altinn_notifications.bootstrap import Container
from altinn_notifications.support.models import IdentifierKind, LookupQuery
from altinn_notifications.support.repository import SupportRepository

ORDERS = 20_000
PERSONS = 2_500  # each person gets a notification of 1 in 2_500 orders: 8 orders over the year

# A year of orders of a few senders; each has an email and an SMS to one of PERSONS people (or orgs).
_SEED = f"""
INSERT INTO orders (alternateid, creatorname, created, requestedsendtime, processed, processedstatus,
                    notificationorder, type)
SELECT gen_random_uuid(), 'org' || (i % 7), t, t, t, 'Completed',
       jsonb_build_object('notificationChannel', 'EmailAndSms'), 'Notification'
FROM generate_series(1, {ORDERS}) i, LATERAL (SELECT now() - (i * interval '26 minutes') AS t) s;

INSERT INTO emailnotifications (_orderid, alternateid, toaddress, result, resulttime, expirytime,
                                recipientnin, recipientorgno)
SELECT o._id, gen_random_uuid(), 'person' || (o._id % {PERSONS}) || '@example.no', 'Delivered',
       o.requestedsendtime, o.requestedsendtime + interval '2 days',
       lpad((o._id % {PERSONS})::text, 11, '0'), lpad((o._id % {PERSONS})::text, 9, '0')
FROM orders o;

INSERT INTO smsnotifications (_orderid, alternateid, mobilenumber, result, resulttime, expirytime,
                              recipientnin, recipientorgno)
SELECT o._id, gen_random_uuid(), '+47' || (40000000 + o._id % {PERSONS}), 'Delivered',
       o.requestedsendtime, o.requestedsendtime + interval '2 days',
       lpad((o._id % {PERSONS})::text, 11, '0'), lpad((o._id % {PERSONS})::text, 9, '0')
FROM orders o;

ANALYZE orders;
ANALYZE emailnotifications;
ANALYZE smsnotifications;
"""

EXPECTED_INDEXES = {
    IdentifierKind.nin: {"ix_emailnotifications_nin", "ix_smsnotifications_nin"},
    IdentifierKind.orgnumber: {"ix_emailnotifications_orgno", "ix_smsnotifications_orgno"},
    IdentifierKind.email: {"ix_emailnotifications_lower_toaddress"},
}
IDENTIFIERS = {
    IdentifierKind.nin: "00000000042",
    IdentifierKind.orgnumber: "000000042",
    IdentifierKind.email: "Person42@example.no",
}


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


@pytest.fixture
async def year_of_data(container: Container) -> Container:
    async with container.pool.acquire() as conn:
        await conn.execute(_SEED)
    return container


@pytest.mark.parametrize("kind", list(IdentifierKind))
async def test_a_year_long_lookup_uses_the_recipient_index(
    year_of_data: Container, kind: IdentifierKind
) -> None:
    now = datetime.now(UTC)
    query = LookupQuery(kind=kind, identifier=IDENTIFIERS[kind], start=now - timedelta(days=365), end=now)
    async with year_of_data.transaction() as conn:
        repo = SupportRepository(conn)
        plan = await repo.plan(query)
        found = await repo.attempts(query)
    nodes = list(_nodes(plan))
    scans = {(n["Node Type"], n.get("Relation Name"), n.get("Index Name")) for n in nodes}
    seq_scanned = {relation for node_type, relation, _ in scans if node_type == "Seq Scan"}
    assert seq_scanned == set(), plan
    used = {
        index
        for node_type, _, index in scans
        if node_type in ("Index Scan", "Bitmap Index Scan", "Index Only Scan")
    }
    assert EXPECTED_INDEXES[kind] <= used, plan
    assert "orders_pkey" in used, plan  # each order read by its key
    # And the lookup finds that recipient's year: 8 orders, an email (and an SMS) each.
    per_channel = 2 if kind is not IdentifierKind.email else 1
    assert len(found) == (ORDERS // PERSONS) * per_channel

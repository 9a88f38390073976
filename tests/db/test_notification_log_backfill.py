"""Migration 0005 backfills the notification log with the orders that were final before it, once."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import asyncpg

from altinn_notifications.db import migrate

_ORDER = """
INSERT INTO notifications.orders (alternateid, creatorname, created, requestedsendtime, processedstatus,
                                  notificationorder, _orderchainid)
VALUES ($1, 'ttd', now(), now(), $2, '{"resourceId": "urn:altinn:resource:r"}', $3) RETURNING _id
"""
_EMAIL = """
INSERT INTO notifications.emailnotifications (_orderid, alternateid, toaddress, result, resulttime, expirytime,
                                              operationid, recipientnin)
VALUES ($1, $2, 'a@example.no', $3, now(), now(), $4, '16069412345')
"""
_SMS = """
INSERT INTO notifications.smsnotifications (_orderid, alternateid, mobilenumber, result, resulttime, expirytime,
                                            recipientorgno)
VALUES ($1, $2, '+4799999999', 'Delivered', now(), now(), '810419652')
"""


async def test_the_migration_backfills_final_orders(fresh_database: Callable[[], Any]) -> None:
    url = await fresh_database()
    migrate.upgrade(url, "0004")
    done, pending = uuid.uuid4(), uuid.uuid4()
    ids = {name: uuid.uuid4() for name in ("email", "sms", "pending")}
    conn = await asyncpg.connect(url)
    try:
        chain = await conn.fetchval(
            """INSERT INTO notifications.orderschain (orderid, idempotencyid, creatorname, created, orderchain)
               VALUES ($1, 'i', 'ttd', now(),
                       '{"Type": 0, "DialogportenAssociation": {"DialogId": "d-1", "TransmissionId": "t-1"}}')
               RETURNING _id""",
            uuid.uuid4(),
        )
        completed = await conn.fetchval(_ORDER, done, "Completed", chain)
        await conn.execute(_EMAIL, completed, ids["email"], "Failed_InvalidEmailFormat", "op-1")
        await conn.execute(_SMS, completed, ids["sms"])
        processed = await conn.fetchval(_ORDER, pending, "Processed", None)
        await conn.execute(_EMAIL, processed, ids["pending"], "Sending", "op-2")
    finally:
        await conn.close()

    migrate.upgrade(url)

    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            """SELECT notificationid, shipmentid, channel, recipient, status, dialogid, transmissionid,
                      vendorreference, resourceid
               FROM notifications.notificationlog ORDER BY channel"""
        )
    finally:
        await conn.close()
    assert [tuple(r) for r in rows] == [
        (
            ids["email"],
            done,
            "Email",
            "16069412345",
            "Email_Failed_InvalidFormat",
            "d-1",
            "t-1",
            "op-1",
            "urn:altinn:resource:r",
        ),
        (ids["sms"], done, "Sms", "810419652", "SMS_Delivered", "d-1", "t-1", None, "urn:altinn:resource:r"),
    ]

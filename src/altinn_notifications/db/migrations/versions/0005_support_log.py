"""Support lookups by email address (an index on the lowercased address) and the notification log, backfilled
with the notifications of the orders that became final before this migration

Revision ID: 0005_support_log
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_support_log"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "notifications"

# Frozen copy of the lifecycle names at the time of this migration (the running code has its own).
_EMAIL_STATUS = """CASE n.result::text
    WHEN 'Failed_InvalidEmailFormat' THEN 'Email_Failed_InvalidFormat'
    WHEN 'Failed_SupressedRecipient' THEN 'Email_Failed_SuppressedRecipient'
    ELSE 'Email_' || n.result::text END"""
_SMS_STATUS = """CASE n.result::text
    WHEN 'Failed_InvalidReceiver' THEN 'SMS_Failed_InvalidRecipient'
    WHEN 'Failed_Recipientreserved' THEN 'SMS_Failed_RecipientReserved'
    ELSE 'SMS_' || n.result::text END"""

# Every notification of every order already final gets its one row; in batches of orders, so a large
# history does not become one huge statement.
_BACKFILL = f"""
INSERT INTO notifications.notificationlog (
    orderchainid, shipmentid, notificationid, creatorname, sendersreference, dialogid, transmissionid,
    vendorreference, recipient, ordertype, channel, destination, resourceid, status, requestedsendtime,
    lastupdate)
SELECT c.orderid, o.alternateid, x.alternateid, o.creatorname, o.sendersreference,
       c.orderchain -> 'DialogportenAssociation' ->> 'DialogId',
       c.orderchain -> 'DialogportenAssociation' ->> 'TransmissionId',
       x.reference, COALESCE(x.recipientorgno, x.recipientnin), o.type, x.channel, x.destination,
       o.notificationorder ->> 'resourceId', x.status, o.requestedsendtime, x.resulttime
FROM notifications.orders o
LEFT JOIN notifications.orderschain c ON c._id = o._orderchainid
CROSS JOIN LATERAL (
    SELECT 'Email' AS channel, n.alternateid, n.toaddress AS destination, {_EMAIL_STATUS} AS status,
           n.resulttime, n.operationid AS reference, n.recipientorgno, n.recipientnin
    FROM notifications.emailnotifications n WHERE n._orderid = o._id
    UNION ALL
    SELECT 'Sms', n.alternateid, n.mobilenumber, {_SMS_STATUS}, n.resulttime, n.gatewayreference,
           n.recipientorgno, n.recipientnin
    FROM notifications.smsnotifications n WHERE n._orderid = o._id
) x
WHERE o.processedstatus IN ('Completed', 'SendConditionNotMet') AND o._id > :after AND o._id <= :until
ON CONFLICT (notificationid) DO NOTHING
"""
_BATCH = 10_000


def upgrade() -> None:
    op.create_index(
        "ix_emailnotifications_lower_toaddress",
        "emailnotifications",
        [sa.text("lower(toaddress)"), "_orderid"],
        schema=SCHEMA,
    )
    op.create_table(
        "notificationlog",
        sa.Column("orderchainid", sa.UUID(), nullable=True),
        sa.Column("shipmentid", sa.UUID(), nullable=False),
        sa.Column("notificationid", sa.UUID(), nullable=False),
        sa.Column("creatorname", sa.Text(), nullable=False),
        sa.Column("sendersreference", sa.Text(), nullable=True),
        sa.Column("dialogid", sa.Text(), nullable=True),
        sa.Column("transmissionid", sa.Text(), nullable=True),
        sa.Column("vendorreference", sa.Text(), nullable=True),
        sa.Column("recipient", sa.Text(), nullable=True),
        sa.Column(
            "ordertype",
            sa.Enum(name="notificationordertype", schema=SCHEMA, create_type=False),
            nullable=False,
        ),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("destination", sa.Text(), nullable=False),
        sa.Column("resourceid", sa.Text(), nullable=True),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("requestedsendtime", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("lastupdate", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("created", sa.TIMESTAMP(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("channel IN ('Email', 'Sms')", name="ck_notificationlog_channel"),
        # The notification id is the key: a second row for a notification is refused (and there is no
        # surrogate key to maintain: one index less to update per notification).
        sa.PrimaryKeyConstraint("notificationid", name="pk_notificationlog"),
        schema=SCHEMA,
    )
    op.create_index("ix_notificationlog_shipment", "notificationlog", ["shipmentid"], schema=SCHEMA)
    # Only rows with Dialogporten ids are found by them (v1 orders, the bulk, have none): partial, so
    # writing a row without them costs no update of these indexes.
    op.create_index(
        "ix_notificationlog_creator_dialog",
        "notificationlog",
        ["creatorname", "dialogid"],
        schema=SCHEMA,
        postgresql_where=sa.text("dialogid IS NOT NULL"),
    )
    op.create_index(
        "ix_notificationlog_creator_transmission",
        "notificationlog",
        ["creatorname", "transmissionid"],
        schema=SCHEMA,
        postgresql_where=sa.text("transmissionid IS NOT NULL"),
    )
    _backfill()


def _backfill() -> None:
    conn = op.get_bind()
    last = conn.execute(sa.text("SELECT COALESCE(max(_id), 0) FROM notifications.orders")).scalar_one()
    statement = sa.text(_BACKFILL)
    for after in range(0, int(last), _BATCH):
        conn.execute(statement, {"after": after, "until": after + _BATCH})


def downgrade() -> None:
    op.drop_table("notificationlog", schema=SCHEMA)
    op.drop_index("ix_emailnotifications_lower_toaddress", table_name="emailnotifications", schema=SCHEMA)

"""The declared schema (docs/compatibility.md C18, in substance). Migrations must produce exactly this.

SQLAlchemy is used only to declare tables, for Alembic and the schema-agreement test; every query is
plain SQL over asyncpg in the repositories.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Double,
    Enum,
    Float,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    Table,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

from altinn_notifications.vocabulary import EmailResult, OrderStatus, SmsResult

SCHEMA = "notifications"

metadata = MetaData(schema=SCHEMA)

ORDER_STATES = tuple(OrderStatus)
ORDER_TYPES = ("Notification", "Reminder", "Instant", "Composed")
EMAIL_RESULTS = tuple(EmailResult)
SMS_RESULTS = tuple(SmsResult)

order_state = Enum(*ORDER_STATES, name="orderprocessingstate", metadata=metadata)
order_type = Enum(*ORDER_TYPES, name="notificationordertype", metadata=metadata)
email_result = Enum(*EMAIL_RESULTS, name="emailnotificationresulttype", metadata=metadata)
sms_result = Enum(*SMS_RESULTS, name="smsnotificationresulttype", metadata=metadata)

TZ = DateTime(timezone=True)


def _pk() -> Column[int]:
    return Column("_id", BigInteger, Identity(always=False), primary_key=True)


def _lease_columns() -> list[Column[object]]:
    """Lease and retry bookkeeping of a work item (docs/architecture.md, "The queue": leases, retry times, attempts)."""
    return [
        Column("claimed_until", TZ, nullable=True),
        Column("next_attempt_at", TZ, nullable=True),
        Column("attempts", Integer, nullable=False, server_default=text("0")),
    ]


orderschain = Table(
    "orderschain",
    metadata,
    _pk(),
    Column("orderid", UUID(as_uuid=True), nullable=False),
    Column("idempotencyid", Text, nullable=False),
    Column("creatorname", Text, nullable=False),
    Column("created", TZ, nullable=False),
    Column("processed", TZ, nullable=True),
    Column("processedstatus", order_state, nullable=False, server_default=text("'Registered'")),
    Column("orderchain", JSONB, nullable=False),
    Index("ix_orderschain_orderid", "orderid", unique=True),
    Index(
        "ix_orderschain_idempotency",
        "idempotencyid",
        "creatorname",
        text("(orderchain ->> 'Type')"),
        unique=True,
    ),
)

orders = Table(
    "orders",
    metadata,
    _pk(),
    Column("alternateid", UUID(as_uuid=True), nullable=False, unique=True),
    Column("creatorname", Text, nullable=False),
    Column("sendersreference", Text, nullable=True),
    Column("created", TZ, nullable=False),
    Column("requestedsendtime", TZ, nullable=False),
    Column("processed", TZ, nullable=True),
    Column("processedstatus", order_state, nullable=False, server_default=text("'Registered'")),
    Column("notificationorder", JSONB, nullable=False),
    Column("sendingtimepolicy", Integer, nullable=True),
    Column("type", order_type, nullable=False, server_default=text("'Notification'")),
    Column("_orderchainid", BigInteger, ForeignKey("orderschain._id"), nullable=True),
    *_lease_columns(),
    Index("ix_orders_alternateid_creator", "alternateid", "creatorname"),
    Index("ix_orders_requestedsendtime", "requestedsendtime"),
    Index(
        "ix_orders_due",
        "requestedsendtime",
        "_id",
        postgresql_where=text("processedstatus = 'Registered'"),
    ),
    # Each creator's due orders, oldest first: the fair claim's loose index scan (0005).
    Index(
        "ix_orders_due_creator",
        "creatorname",
        "requestedsendtime",
        "_id",
        postgresql_where=text("processedstatus = 'Registered'"),
    ),
    Index(
        "ix_orders_processing_lease",
        "claimed_until",
        postgresql_where=text("processedstatus = 'Processing'"),
    ),
    Index("ix_orders_sendersreference_creator", "sendersreference", "creatorname"),
    Index(
        "ix_orders_processed_type",
        "type",
        "_id",
        postgresql_where=text("processedstatus = 'Processed'"),
    ),
)

emailtexts = Table(
    "emailtexts",
    metadata,
    _pk(),
    Column("_orderid", BigInteger, ForeignKey("orders._id", ondelete="CASCADE"), nullable=False, index=True),
    Column("fromaddress", Text, nullable=False),
    Column("subject", Text, nullable=True),
    Column("body", Text, nullable=False),
    Column("contenttype", Text, nullable=False),
)

smstexts = Table(
    "smstexts",
    metadata,
    _pk(),
    Column("_orderid", BigInteger, ForeignKey("orders._id", ondelete="CASCADE"), nullable=False, index=True),
    Column("sendernumber", Text, nullable=False),
    Column("body", Text, nullable=False),
)


emailnotifications = Table(
    "emailnotifications",
    metadata,
    _pk(),
    Column("_orderid", BigInteger, ForeignKey("orders._id", ondelete="CASCADE"), nullable=False),
    Column("alternateid", UUID(as_uuid=True), nullable=False, unique=True),
    Column("toaddress", Text, nullable=False),
    Column("result", email_result, nullable=False),
    Column("resulttime", TZ, nullable=False),
    Column("expirytime", TZ, nullable=False),
    Column("operationid", Text, nullable=True),
    Column("recipientorgno", Text, nullable=True),
    Column("recipientnin", Text, nullable=True),
    Column("customizedbody", Text, nullable=True),
    Column("customizedsubject", Text, nullable=True),
    Column("deliveryreport", JSONB, nullable=True),
    Column("total_attachment_size_bytes", BigInteger, nullable=False, server_default=text("0")),
    *_lease_columns(),
    Index("ix_emailnotifications_orderid", "_orderid", postgresql_include=["_id", "result"]),
    Index(
        "ix_emailnotifications_new",
        "_id",
        postgresql_include=["_orderid"],
        postgresql_where=text("result = 'New'"),
    ),
    Index(
        "ix_emailnotifications_succeeded_expiry",
        "expirytime",
        postgresql_include=["_id", "alternateid"],
        postgresql_where=text("result = 'Succeeded'"),
    ),
    Index(
        "ix_emailnotifications_operationid",
        "operationid",
        unique=True,
        postgresql_where=text("operationid IS NOT NULL"),
    ),
    Index("ix_emailnotifications_nin", "recipientnin", "_orderid", "_id"),
    Index("ix_emailnotifications_orgno", "recipientorgno", "_orderid", "_id"),
    Index("ix_emailnotifications_resulttime", "resulttime"),
    # Support lookups by address, case-insensitive (0005).
    Index("ix_emailnotifications_lower_toaddress", text("lower(toaddress)"), "_orderid"),
    # ACS operations waiting for their next status poll (0002).
    Index(
        "ix_emailnotifications_polling",
        "next_attempt_at",
        postgresql_where=text("result = 'Sending' AND operationid IS NOT NULL"),
    ),
)

smsnotifications = Table(
    "smsnotifications",
    metadata,
    _pk(),
    Column("_orderid", BigInteger, ForeignKey("orders._id", ondelete="CASCADE"), nullable=False),
    Column("alternateid", UUID(as_uuid=True), nullable=False, unique=True),
    Column("mobilenumber", Text, nullable=False),
    Column("result", sms_result, nullable=False),
    Column("resulttime", TZ, nullable=False),
    Column("expirytime", TZ, nullable=False),
    Column("gatewayreference", Text, nullable=True),
    Column("recipientorgno", Text, nullable=True),
    Column("recipientnin", Text, nullable=True),
    Column("customizedbody", Text, nullable=True),
    Column("smscount", Integer, nullable=False, server_default=text("0")),
    Column("deliveryreport", JSONB, nullable=True),
    *_lease_columns(),
    Index("ix_smsnotifications_orderid", "_orderid", postgresql_include=["_id", "result"]),
    Index(
        "ix_smsnotifications_new",
        "_id",
        postgresql_include=["_orderid"],
        postgresql_where=text("result = 'New'"),
    ),
    Index(
        "ix_smsnotifications_accepted_expiry",
        "expirytime",
        postgresql_include=["_id", "alternateid"],
        postgresql_where=text("result = 'Accepted'"),
    ),
    Index(
        "ix_smsnotifications_gatewayreference",
        "gatewayreference",
        unique=True,
        postgresql_where=text("gatewayreference IS NOT NULL"),
    ),
    Index("ix_smsnotifications_nin", "recipientnin", "_orderid", "_id"),
    Index("ix_smsnotifications_orgno", "recipientorgno", "_orderid", "_id"),
    Index("ix_smsnotifications_resulttime", "resulttime"),
)

statusfeed = Table(
    "statusfeed",
    metadata,
    _pk(),
    Column("orderid", BigInteger, ForeignKey("orders._id", ondelete="CASCADE"), nullable=False, unique=True),
    Column("creatorname", Text, nullable=False),
    Column("created", TZ, nullable=False, server_default=text("now()")),
    Column("orderstatus", JSONB, nullable=False),
    Index("ix_statusfeed_creator_id", "creatorname", "_id"),
    Index("ix_statusfeed_created", "created"),
)

# One row per notification, written in the transaction that makes its order final (with the status-feed
# entry), never twice (the unique notification id): the record end-user facing services read (0005).
notificationlog = Table(
    "notificationlog",
    metadata,
    Column("orderchainid", UUID(as_uuid=True), nullable=True),  # the chain's id; v1 orders have none
    Column("shipmentid", UUID(as_uuid=True), nullable=False),
    # The key: never two rows for one notification, and no surrogate key to maintain per row.
    Column("notificationid", UUID(as_uuid=True), nullable=False),
    Column("creatorname", Text, nullable=False),
    Column("sendersreference", Text, nullable=True),
    Column("dialogid", Text, nullable=True),
    Column("transmissionid", Text, nullable=True),
    Column("vendorreference", Text, nullable=True),  # ACS operation id or LINK Mobility gateway reference
    Column("recipient", Text, nullable=True),  # organisation number, else national identity number
    Column("ordertype", order_type, nullable=False),
    Column("channel", Text, nullable=False),
    Column("destination", Text, nullable=False),
    Column("resourceid", Text, nullable=True),
    Column("status", Text, nullable=False),  # the lifecycle name of shipment tracking
    Column("requestedsendtime", TZ, nullable=False),
    Column("lastupdate", TZ, nullable=False),
    Column("created", TZ, nullable=False, server_default=text("now()")),
    CheckConstraint("channel IN ('Email', 'Sms')", name="ck_notificationlog_channel"),
    PrimaryKeyConstraint("notificationid", name="pk_notificationlog"),
    Index("ix_notificationlog_shipment", "shipmentid"),
    # Partial: rows without Dialogporten ids (v1 orders, the bulk) cost no update of these two.
    Index(
        "ix_notificationlog_creator_dialog",
        "creatorname",
        "dialogid",
        postgresql_where=text("dialogid IS NOT NULL"),
    ),
    Index(
        "ix_notificationlog_creator_transmission",
        "creatorname",
        "transmissionid",
        postgresql_where=text("transmissionid IS NOT NULL"),
    ),
)

deaddeliveryreports = Table(
    "deaddeliveryreports",
    metadata,
    Column("id", BigInteger, Identity(always=False), primary_key=True),
    Column("channel", SmallInteger, nullable=False),
    Column("deliveryreport", JSONB, nullable=False),
    Column("firstseen", TZ, nullable=False),
    Column("lastattempt", TZ, nullable=False),
    Column("resolved", Boolean, nullable=False, server_default=text("false")),
    Column("attemptcount", Integer, nullable=False),
    Column("reason", Text, nullable=True),
    Column("message", Text, nullable=True),
    CheckConstraint("attemptcount > 0", name="ck_deaddeliveryreports_attemptcount"),
    Index("ix_deaddeliveryreports_unresolved", "id", postgresql_where=text("NOT resolved")),  # 0002
)

# Delivery reports whose notification was not found yet (they may have overtaken the send result), each
# with the time of its next attempt; after the retry schedule they become dead reports (0002). A row with
# `attemptcount` 0 is a report the simulated vendor delivers at `next_attempt_at` (0005).
deliveryreportretries = Table(
    "deliveryreportretries",
    metadata,
    Column("id", BigInteger, Identity(always=False), primary_key=True),
    Column("channel", SmallInteger, nullable=False),
    Column("reference", Text, nullable=False),
    Column("result", Text, nullable=False),
    Column("deliveryreport", JSONB, nullable=False),
    Column("firstseen", TZ, nullable=False),
    Column("attemptcount", Integer, nullable=False),
    Column("next_attempt_at", TZ, nullable=False),
    CheckConstraint("attemptcount >= 0", name="ck_deliveryreportretries_attemptcount"),
    Index("ix_deliveryreportretries_due", "next_attempt_at"),
)

# The monthly report's counts of orders the retention job deleted, per month of requested send time and
# creator (0005); the report adds them to what it counts in the order tables.
monthlystatistics = Table(
    "monthlystatistics",
    metadata,
    Column("month", Date, primary_key=True),
    Column("creatorname", Text, primary_key=True),
    Column("placedorders", BigInteger, nullable=False, server_default=text("0")),
    Column("emailscreated", BigInteger, nullable=False, server_default=text("0")),
    Column("emailssucceeded", BigInteger, nullable=False, server_default=text("0")),
    Column("smscreated", BigInteger, nullable=False, server_default=text("0")),
    Column("smssucceeded", BigInteger, nullable=False, server_default=text("0")),
)

# "The vendor is rate-limiting us until this time", per channel (the reference keeps email only).
resourcelimitlog = Table(
    "resourcelimitlog",
    metadata,
    Column("id", Integer, Identity(always=False), primary_key=True),
    Column("channel", Text, nullable=False, unique=True),
    Column("emaillimittimeout", TZ, nullable=True),
)

# An instant order's idempotency id while its synchronous hand-off is in flight: a concurrent request with
# the same id waits for the outcome instead of sending a second message. Deleted when the outcome is
# stored or the hand-off failed; one left by a crash expires at `reserved_until`.
instantreservations = Table(
    "instantreservations",
    metadata,
    Column("creatorname", Text, primary_key=True),
    Column("idempotencyid", Text, primary_key=True),
    Column("holder", UUID(as_uuid=True), nullable=False),  # the holding request (its chain id)
    Column("reserved_until", TZ, nullable=False),
)

# --- Operator console and worker liveness (0006) ---

# Every console action (sign-in, cancel, reveal, replay, lookup): who, what, when, never an identifier in
# clear (`target` is an order id, a report id, or a masked or hashed identifier).
consoleaudit = Table(
    "consoleaudit",
    metadata,
    Column("id", BigInteger, Identity(always=False), primary_key=True),
    Column("at", TZ, nullable=False, server_default=text("now()")),
    Column("actor", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("target", Text, nullable=True),
    Column("outcome", Text, nullable=False),
    Index("ix_consoleaudit_at", "at"),
)

# One-time sign-in links already used (a link is a signed nonce; its first use inserts it here).
consolesigninlinks = Table(
    "consolesigninlinks",
    metadata,
    Column("nonce", Text, primary_key=True),
    Column("used_at", TZ, nullable=False, server_default=text("now()")),
)

# Each worker process's loops: when a loop last ran its step, and when that step last found work.
workerheartbeats = Table(
    "workerheartbeats",
    metadata,
    Column("worker", Text, primary_key=True),
    Column("loop", Text, primary_key=True),
    Column("last_step", TZ, nullable=False),
    Column("last_found", TZ, nullable=True),
)

# A sender's rate-limit buckets and daily quota (ratelimits/): one row per creator, taken from in one
# atomic statement by every API process. Token counts may go negative (a large order's debt).
senderallowances = Table(
    "senderallowances",
    metadata,
    Column("creatorname", Text, primary_key=True),
    Column("requesttokens", Double, nullable=False),
    Column("notificationtokens", Double, nullable=False),
    Column("refilledat", TZ, nullable=False),
    Column("quotaday", Date, nullable=False),
    Column("quotaused", BigInteger, nullable=False),
    Column("allowed", Boolean, nullable=False),  # the last take's decision (what the statement returns)
)

# Vendor pace: the send allowance of a channel shared by every worker process (a token bucket). A claim
# takes tokens here in its own transaction; the bucket refills at the configured sends per second.
sendallowance = Table(
    "sendallowance",
    metadata,
    Column("channel", Text, primary_key=True),
    Column("tokens", Float, nullable=False),
    Column("refilled_at", TZ, nullable=False),
)

# --- Local registry: the built-in stand-in for KRR/Profile/Register/Authorization (self-hosting, dev) ---

registry_persons = Table(
    "registry_persons",
    metadata,
    Column("nationalidentitynumber", Text, primary_key=True),
    Column("name", Text, nullable=True),
    Column("email", Text, nullable=True),
    Column("mobilenumber", Text, nullable=True),
    Column("isreserved", Boolean, nullable=False, server_default=text("false")),
    Column("lastverified", TZ, nullable=True),
)

registry_organizations = Table(
    "registry_organizations",
    metadata,
    Column("organizationnumber", Text, primary_key=True),
    Column("name", Text, nullable=True),
    Column("emails", ARRAY(Text), nullable=False, server_default=text("'{}'")),
    Column("mobilenumbers", ARRAY(Text), nullable=False, server_default=text("'{}'")),
)

registry_org_users = Table(
    "registry_org_users",
    metadata,
    Column(
        "organizationnumber",
        Text,
        ForeignKey("registry_organizations.organizationnumber", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("userid", BigInteger, primary_key=True),
    Column("nationalidentitynumber", Text, nullable=True),
    Column("email", Text, nullable=True),
    Column("mobilenumber", Text, nullable=True),
    Column("resources", ARRAY(Text), nullable=False, server_default=text("'{}'")),
)

registry_external_identities = Table(
    "registry_external_identities",
    metadata,
    Column("externalidentity", Text, primary_key=True),
    Column("email", Text, nullable=True),
    Column("mobilenumber", Text, nullable=True),
)


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Alembic filter: only our own schema is managed."""
    if type_ == "schema":
        return name == SCHEMA
    return not (type_ == "table" and name == "alembic_version")

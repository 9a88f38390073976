"""Scale: an organisation with 10,000 registered users is looked up, authorised (20 PDP
batches) and turned into notifications without timeouts or unbounded memory.

1. Through the Altinn HTTP adapters, wired by `build_recipient_ports` with the default settings (adapter
   timeout, PDP batch size), against a dedicated in-memory loopback Profile/Register/PDP: 9,000 of the
   users are `Permit`, 1,000 `Deny`; the order is claimed and processed by the real `OrderProcessor`.
2. The same organisation in the local registry (imported with `import_registry_document`), through the
   real `Workers` until the order is `Completed` and every notification `Delivered` (simulated providers).
3. What (2) found: a delivery report that overtakes its send result, and whose send result commits while
   the report is being applied, is discarded as a late duplicate and the notification never completes.
   Reproduced deterministically here (the commit is placed between the two statements of
   `DispatchRepository.apply_reports`).

Wall-clock speed is not asserted: the default adapter timeout makes a pathological slowdown fail as a
timeout. Elapsed times and peak traced memory are printed (run with `-s` to see them); memory growth is
asserted under a generous bound, to catch unbounded behaviour.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
import tracemalloc
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from altinn_notifications.bootstrap import Container
from altinn_notifications.config import Settings
from altinn_notifications.db.pool import Connection
from altinn_notifications.dispatch.models import SendResult
from altinn_notifications.dispatch.repository import DispatchRepository
from altinn_notifications.orders.models import (
    EmailTemplate,
    NotificationChannel,
    NotificationOrder,
    Recipient,
    SmsTemplate,
)
from altinn_notifications.orders.repository import OrderRepository
from altinn_notifications.processing.models import NewEmailNotification
from altinn_notifications.processing.repository import ProcessingRepository
from altinn_notifications.processing.worker import OrderProcessor, ProcessingConfig
from altinn_notifications.providers.base import DeliveryReport
from altinn_notifications.recipients.altinn_http import build_recipient_ports
from altinn_notifications.recipients.local import LocalRegistryContactPoints
from altinn_notifications.recipients.registry import import_registry_document
from altinn_notifications.reports.models import DEFAULT_RETRY_SCHEDULE, PendingReport
from altinn_notifications.reports.service import apply_reports
from tests.pipeline.conftest import (
    RunWorkers,
    eventually,
    run_workers,  # noqa: F401  (fixture used below)
)
from tests.recipients.altinn_fake import RESOURCE_CATEGORY, SUBJECT_CATEGORY, XSD_STRING

pytestmark = pytest.mark.slow

USERS = 10_000
BATCH = 500  # the PDP batch size the default settings give (`authorization_batch_size`)
ORG = "910000123"
ORG_NAME = "Skala AS"
PARTY_ID = 50_123_456
RESOURCE = "urn:altinn:resource:ttd_scale"
OTHER_RESOURCE = "urn:altinn:resource:ttd_other"
OFFICIAL_EMAIL = "post@skala.no"
OFFICIAL_MOBILE = "+4790000000"  # = user 0's mobile as Profile stores it ("90000000"): blanked for the user
MEMORY_BOUND = 200 * 1024 * 1024
NOON_OSLO = datetime(2026, 11, 27, 11, 0, tzinfo=UTC)  # the SMS daytime window is open

PROFILE = "/profile/api/v1/"
REGISTER = "/register/api/v1/"
AUTHORIZATION = "/authorization/api/v1/"


# --- the organisation ---


@dataclass(frozen=True)
class User:
    user_id: int
    email: str
    mobile: str  # as the register holds it (8 digits, or 0047…)
    permitted: bool


def _e164(mobile: str) -> str:
    return "+" + mobile[2:] if mobile.startswith("00") else "+47" + mobile


def scale_users() -> list[User]:
    """10,000 users: every tenth is denied (holds no right); of the permitted, every fiftieth repeats the
    previous (permitted) user's email in other case and mobile in `0047` form, and one repeats the
    official email: all of these are sent once."""
    users: list[User] = []
    for i in range(USERS):
        user_id = 1_000_000 + i
        if i % 10 == 9:
            users.append(User(user_id, f"denied{i}@skala.no", f"4{i:07d}", permitted=False))
        elif i % 50 == 1:
            previous = users[-1]
            users.append(User(user_id, previous.email.upper(), "0047" + previous.mobile, permitted=True))
        elif i == 20:
            users.append(User(user_id, OFFICIAL_EMAIL.upper(), f"9{i:07d}", permitted=True))
        else:
            users.append(User(user_id, f"user{i}@skala.no", f"9{i:07d}", permitted=True))
    return users


def expected_addresses(users: list[User]) -> tuple[set[str], set[str]]:
    """(emails lower-cased, mobiles in E.164) the organisation is to be notified at."""
    emails = {OFFICIAL_EMAIL.lower()} | {u.email.lower() for u in users if u.permitted}
    mobiles = {OFFICIAL_MOBILE} | {_e164(u.mobile) for u in users if u.permitted}
    return emails, mobiles


def denied_addresses(users: list[User]) -> tuple[set[str], set[str]]:
    return (
        {u.email.lower() for u in users if not u.permitted},
        {_e164(u.mobile) for u in users if not u.permitted},
    )


def scale_order() -> NotificationOrder:
    now = datetime.now(UTC)
    return NotificationOrder(
        id=uuid.uuid4(),
        creator="ttd",
        created=now,
        requested_send_time=now,
        notification_channel=NotificationChannel.EmailAndSms,
        resource_id=RESOURCE,
        email_template=EmailTemplate(
            from_address="noreply@altinn.no", subject="Til $recipientName$", body="Hei $recipientName$"
        ),
        sms_template=SmsTemplate(sender_number="Altinn", body="Hei $recipientName$"),
        recipients=[Recipient(organization_number=ORG)],
    )


# --- a loopback Altinn answering for the one organisation, in the reference's wire formats ---

# The fake shares the test's event loop, so its keep-alive timer cannot fire while the client's lookup
# holds the loop with CPU work (seconds under tracemalloc). With uvicorn's default (5 s, equal to httpx's
# `keepalive_expiry`) the overdue timer then closes a connection the client has just decided to reuse:
# a `ReadError` that a remote server, whose FIN arrives in time, would not cause. Real platform services
# keep idle connections longer than httpx does; so does this fake.
SERVER_KEEP_ALIVE_S = 75  # nginx's default


@contextlib.asynccontextmanager
async def serve(app: Starlette) -> AsyncIterator[str]:
    """`altinn_fake.serve` with a keep-alive longer than the client's: yields `http://127.0.0.1:PORT`."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        lifespan="off",
        ws="none",
        log_level="warning",
        access_log=False,
        timeout_keep_alive=SERVER_KEEP_ALIVE_S,
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("loopback server stopped before it started")
            await asyncio.sleep(0.005)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


class ScaleAltinn:
    """Profile answers every user of the organisation (Profile does not authorise); the PDP answers
    `Permit` for the permitted users and `Deny` for the others; Register knows the organisation's name.
    Records every call and every PDP batch (its user–party pairs)."""

    def __init__(self, users: list[User]) -> None:
        self.users = users
        self.permitted = {u.user_id for u in users if u.permitted}
        self.calls: Counter[str] = Counter()
        self.bodies: dict[str, list[Any]] = {}
        self.pdp_batches: list[list[tuple[int, int]]] = []
        self.first_request_at: float | None = None
        self.last_pdp_answer_at: float | None = None
        self.app = Starlette(
            routes=[
                Route(
                    PROFILE + "organizations/notificationaddresses/lookup", self.official, methods=["POST"]
                ),
                Route(PROFILE + "units/contactpoint/lookup", self.org_users, methods=["POST"]),
                Route(REGISTER + "parties/nameslookup", self.names, methods=["POST"]),
                Route(AUTHORIZATION + "decision", self.decision, methods=["POST"]),
            ]
        )

    async def _body(self, request: Request, name: str) -> Any:
        if self.first_request_at is None:
            self.first_request_at = time.perf_counter()
        body = await request.json()
        self.calls[name] += 1
        if name != "decision":  # PDP bodies are large: only their pairs are kept
            self.bodies.setdefault(name, []).append(body)
        return body

    async def official(self, request: Request) -> Response:
        await self._body(request, "official")
        return JSONResponse(
            {
                "contactPointsList": [
                    {
                        "organizationNumber": ORG,
                        "partyId": PARTY_ID,
                        "emailList": [OFFICIAL_EMAIL],
                        "mobileNumberList": [OFFICIAL_MOBILE],
                        "userContactPoints": [],
                    }
                ]
            }
        )

    async def org_users(self, request: Request) -> Response:
        await self._body(request, "users")
        return JSONResponse(
            {
                "contactPointsList": [
                    {
                        "organizationNumber": ORG,
                        "partyId": PARTY_ID,
                        "emailList": [],
                        "mobileNumberList": [],
                        "userContactPoints": [
                            {
                                "userId": u.user_id,
                                "nationalIdentityNumber": "",
                                "isReserved": False,
                                "mobileNumber": u.mobile,
                                "email": u.email,
                            }
                            for u in self.users
                        ],
                    }
                ]
            }
        )

    async def names(self, request: Request) -> Response:
        await self._body(request, "names")
        return JSONResponse({"partyNames": [{"orgNo": ORG, "name": ORG_NAME}]})

    async def decision(self, request: Request) -> Response:
        body = await self._body(request, "decision")
        req = body["Request"]
        subjects = {s["Id"]: s["Attribute"][0]["Value"] for s in req["AccessSubject"]}
        parties = {
            r["Id"]: next(a["Value"] for a in r["Attribute"] if a["AttributeId"] == "urn:altinn:partyid")
            for r in req["Resource"]
        }
        pairs: list[tuple[int, int]] = []
        results = []
        for reference in req["MultiRequests"]["RequestReference"]:
            subject, _action, resource = reference["ReferenceId"]
            user, party = subjects[subject], parties[resource]
            pairs.append((int(user), int(party)))
            permit = int(user) in self.permitted and int(party) == PARTY_ID
            results.append(
                {
                    "Decision": "Permit" if permit else "Deny",
                    "Status": {"StatusCode": {"Value": "urn:oasis:names:tc:xacml:1.0:status:ok"}},
                    "Category": [
                        {
                            "CategoryId": SUBJECT_CATEGORY,
                            "Attribute": [
                                {"AttributeId": "urn:altinn:userid", "Value": user, "DataType": XSD_STRING}
                            ],
                        },
                        {
                            "CategoryId": RESOURCE_CATEGORY,
                            "Attribute": [
                                {"AttributeId": "urn:altinn:partyid", "Value": party, "DataType": XSD_STRING}
                            ],
                        },
                    ],
                }
            )
        self.pdp_batches.append(pairs)
        self.last_pdp_answer_at = time.perf_counter()
        return JSONResponse({"Response": results})


# --- helpers ---


@dataclass
class Traced:
    baseline: int = 0
    peak: int = 0

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.baseline) / (1024 * 1024)


@pytest.fixture
def traced() -> Iterator[Traced]:
    """Peak traced (Python) memory above the level at `start()`; tracing stops at teardown."""
    record = Traced()
    yield record
    if tracemalloc.is_tracing():
        tracemalloc.stop()


def start_tracing(record: Traced) -> None:
    tracemalloc.start()
    record.baseline = tracemalloc.get_traced_memory()[0]


def stop_tracing(record: Traced) -> None:
    record.peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()


async def insert_order(container: Container, order: NotificationOrder) -> int:
    async with container.transaction() as conn:
        return await OrderRepository(conn).insert(order)


async def order_status(container: Container, order_id: int) -> str:
    async with container.pool.acquire() as conn:
        status: str = await conn.fetchval("SELECT processedstatus::text FROM orders WHERE _id = $1", order_id)
    return status


async def notification_rows(container: Container, order_id: int) -> tuple[list[Any], list[Any]]:
    async with container.pool.acquire() as conn:
        emails = await conn.fetch(
            "SELECT toaddress AS address, result::text AS result, customizedsubject, recipientorgno "
            "FROM emailnotifications WHERE _orderid = $1",
            order_id,
        )
        sms = await conn.fetch(
            "SELECT mobilenumber AS address, result::text AS result, customizedbody, recipientorgno "
            "FROM smsnotifications WHERE _orderid = $1",
            order_id,
        )
    return list(emails), list(sms)


async def delivery_state(container: Container, order_id: int) -> dict[str, Any]:
    """Where an order that did not complete is stuck: results per channel, reports waiting for a retry,
    dead reports, and notifications still waiting although their delivery report was recorded."""
    async with container.pool.acquire() as conn:
        return {
            "order": await order_status(container, order_id),
            "email": dict(
                await conn.fetch(
                    "SELECT result::text, count(*) FROM emailnotifications WHERE _orderid = $1 GROUP BY 1",
                    order_id,
                )
            ),
            "sms": dict(
                await conn.fetch(
                    "SELECT result::text, count(*) FROM smsnotifications WHERE _orderid = $1 GROUP BY 1",
                    order_id,
                )
            ),
            "report_retries": await conn.fetchval("SELECT count(*) FROM deliveryreportretries"),
            "dead_reports": await conn.fetchval("SELECT count(*) FROM deaddeliveryreports"),
            "waiting_with_report_recorded": await conn.fetchval(
                """SELECT (SELECT count(*) FROM emailnotifications
                           WHERE result = 'Succeeded' AND deliveryreport IS NOT NULL)
                       + (SELECT count(*) FROM smsnotifications
                           WHERE result = 'Accepted' AND deliveryreport IS NOT NULL)"""
            ),
        }


def assert_one_row_per_address(emails: list[Any], sms: list[Any], users: list[User]) -> None:
    want_emails, want_mobiles = expected_addresses(users)
    denied_emails, denied_mobiles = denied_addresses(users)
    # the official address + 9,000 permitted users, less 200 repeats of a user and 1 of the official one
    assert len(want_emails) == len(want_mobiles) == 1 + 9_000 - 200 - 1

    got_emails = [r["address"].lower() for r in emails]
    got_mobiles = [r["address"] for r in sms]
    assert len(got_emails) == len(set(got_emails)), "an email address got more than one notification"
    assert len(got_mobiles) == len(set(got_mobiles)), "a mobile number got more than one notification"
    assert set(got_emails) == want_emails
    assert set(got_mobiles) == want_mobiles
    assert not set(got_emails) & denied_emails
    assert not set(got_mobiles) & denied_mobiles
    assert {r["recipientorgno"] for r in [*emails, *sms]} == {ORG}


def registry_document(users: list[User]) -> dict[str, Any]:
    return {
        "organizations": [
            {
                "organizationNumber": ORG,
                "name": ORG_NAME,
                "emails": [OFFICIAL_EMAIL],
                "mobileNumbers": [OFFICIAL_MOBILE],
                "users": [
                    {
                        "userId": u.user_id,
                        "email": u.email,
                        "mobileNumber": u.mobile,
                        "resources": [RESOURCE if u.permitted else OTHER_RESOURCE],
                    }
                    for u in users
                ],
            }
        ]
    }


def report(title: str, **values: Any) -> None:
    print(f"\n[scale] {title}: " + json.dumps(values))


# --- 1. the Altinn HTTP adapters ---


async def test_altinn_organisation_of_10000_users_is_authorised_in_20_batches_and_generated(
    container: Container, settings: Settings, traced: Traced
) -> None:
    users = scale_users()
    fake = ScaleAltinn(users)
    timeout = settings.platform_timeout_seconds
    local = LocalRegistryContactPoints(container.pool)
    order_id = await insert_order(container, scale_order())

    async with serve(fake.app) as base_url:
        # Wired as the composition root wires them, with the default timeout and PDP batch size.
        contact_points, names = build_recipient_ports(
            container.http,
            local_contact_points=local,
            local_party_names=local,
            profile_url=base_url + PROFILE,
            register_url=base_url + REGISTER,
            authorization_url=base_url + AUTHORIZATION,
            platform_access_token="platform-token",
            timeout=timeout,
            authorization_batch_size=settings.authorization_batch_size,
        )
        processor = OrderProcessor(
            container.transaction, contact_points, names, container.condition, ProcessingConfig()
        )
        async with container.transaction() as conn:
            [claimed] = await ProcessingRepository(conn).claim_due_orders(
                1, timedelta(0), ProcessingConfig().lease
            )

        start_tracing(traced)
        started = time.perf_counter()
        # `process` (not `run_once`) so that a failure, a timeout above all, fails the test with its cause
        # instead of being rescheduled; the whole order must fit in one adapter timeout.
        async with asyncio.timeout(timeout):
            await processor.process(claimed)
        elapsed = time.perf_counter() - started
        stop_tracing(traced)

    assert fake.first_request_at is not None and fake.last_pdp_answer_at is not None
    emails, sms = await notification_rows(container, order_id)
    report(
        "altinn adapters",
        users=USERS,
        process_s=round(elapsed, 3),
        lookup_and_pdp_s=round(fake.last_pdp_answer_at - fake.first_request_at, 3),
        traced_peak_growth_mb=round(traced.growth_mb, 1),
        pdp_calls=fake.calls["decision"],
        pdp_batch_sizes=sorted({len(b) for b in fake.pdp_batches}),
        email_rows=len(emails),
        sms_rows=len(sms),
        adapter_timeout_s=timeout,
    )

    # One Profile call each, one Register call, 20 PDP calls of at most 500 pairs, every pair asked once.
    assert settings.authorization_batch_size == BATCH
    assert fake.calls == {"official": 1, "users": 1, "names": 1, "decision": USERS // BATCH}
    assert fake.bodies["users"] == [{"organizationNumbers": [ORG], "resourceId": "ttd_scale"}]
    assert all(len(batch) <= BATCH for batch in fake.pdp_batches)
    asked = [pair for batch in fake.pdp_batches for pair in batch]
    assert len(asked) == len(set(asked)) == USERS
    assert set(asked) == {(u.user_id, PARTY_ID) for u in users}

    assert_one_row_per_address(emails, sms, users)
    assert {r["result"] for r in [*emails, *sms]} == {"New"}
    assert {r["customizedsubject"] for r in emails} == {f"Til {ORG_NAME}"}
    assert {r["customizedbody"] for r in sms} == {f"Hei {ORG_NAME}"}
    assert await order_status(container, order_id) == "Processed"
    assert traced.growth_mb * 1024 * 1024 < MEMORY_BOUND


# --- 2. the local registry, through the workers ---


async def test_local_registry_organisation_of_10000_users_is_delivered_through_the_workers(
    container: Container,
    run_workers: RunWorkers,  # noqa: F811
    traced: Traced,
) -> None:
    users = scale_users()
    started = time.perf_counter()
    summary = await import_registry_document(container.pool, registry_document(users))
    imported_s = time.perf_counter() - started
    assert summary.errors == []
    assert (summary.organizations, summary.users) == (1, USERS)

    order_id = await insert_order(container, scale_order())
    reached: dict[str, float] = {}

    async def completed() -> bool:
        status = await order_status(container, order_id)
        reached.setdefault(status, time.perf_counter() - started)
        return status == "Completed"

    start_tracing(traced)
    started = time.perf_counter()
    async with run_workers(clock=lambda: NOON_OSLO):
        try:
            await eventually(completed, within=120, interval=0.25)  # a hang guard, not a speed requirement
        except AssertionError as exc:
            raise AssertionError(f"{exc}: {await delivery_state(container, order_id)}") from None
    elapsed = time.perf_counter() - started
    stop_tracing(traced)

    emails, sms = await notification_rows(container, order_id)
    report(
        "local registry + workers",
        users=USERS,
        import_s=round(imported_s, 3),
        processed_at_s=round(reached.get("Processed", float("nan")), 3),
        completed_at_s=round(elapsed, 3),
        traced_peak_growth_mb=round(traced.growth_mb, 1),
        email_rows=len(emails),
        sms_rows=len(sms),
    )

    assert_one_row_per_address(emails, sms, users)
    assert {r["result"] for r in emails} == {"Delivered"}
    assert {r["result"] for r in sms} == {"Delivered"}
    assert {r["customizedsubject"] for r in emails} == {f"Til {ORG_NAME}"}
    async with container.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM statusfeed") == 1
    assert traced.growth_mb * 1024 * 1024 < MEMORY_BOUND


# --- the cause of lost reports seen above, made deterministic ---


class CommitsAfterFirstFetch:
    """A connection proxy that runs `between` right after its first `fetch`: the moment between the two
    statements of `DispatchRepository.apply_reports` (apply by reference; then classify the misses)."""

    def __init__(self, conn: Connection, between: Callable[[], Awaitable[None]]) -> None:
        self._conn = conn
        self._between: Callable[[], Awaitable[None]] | None = between

    async def fetch(self, *args: Any, **kwargs: Any) -> Any:
        rows = await self._conn.fetch(*args, **kwargs)
        if self._between is not None:
            between, self._between = self._between, None
            await between()
        return rows

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


async def test_a_report_whose_send_result_commits_during_the_apply_is_not_dropped(
    container: Container,
) -> None:
    """A delivery report overtakes its send result (the vendor answers before our batch of results is
    committed); the result commits while the report is being applied. The report must be applied or kept
    for a retry: never discarded as a late duplicate while the notification still waits for it."""
    now = datetime.now(UTC)
    order_id = await insert_order(container, scale_order())
    notification_id, reference = uuid.uuid4(), str(uuid.uuid4())
    async with container.transaction() as conn:
        await ProcessingRepository(conn).insert_emails(
            order_id,
            [NewEmailNotification(notification_id, "a@example.no", "Sending", now + timedelta(hours=48))],
        )

    # The dispatcher's transaction: the send result is written, not yet committed.
    async with container.pool.acquire() as sender:
        tx = sender.transaction()
        await tx.start()
        committed = False

        async def commit() -> None:
            nonlocal committed
            await tx.commit()
            committed = True

        try:
            await DispatchRepository(sender).write_send_results(
                "email", [SendResult(notification_id, order_id, "Succeeded", reference)]
            )
            report = DeliveryReport("email", "Delivered", reference, raw={"messageId": reference})
            async with container.transaction() as conn:
                summary = await apply_reports(
                    cast(Connection, CommitsAfterFirstFetch(conn, commit)),
                    [PendingReport(report, now)],
                    DEFAULT_RETRY_SCHEDULE,
                )
        finally:
            if not committed:  # (an early failure: do not leave the transaction open)
                await tx.rollback()

    async with container.pool.acquire() as conn:
        result = await conn.fetchval(
            "SELECT result::text FROM emailnotifications WHERE alternateid = $1", notification_id
        )
        kept = await conn.fetchval(
            "SELECT count(*) FROM deliveryreportretries WHERE reference = $1", reference
        )
    # Applied at once, or kept for a retry (which then applies it): either is correct; dropping it is not.
    assert result == "Delivered" or kept == 1, (
        f"the report was dropped as a late duplicate ({summary}); the notification stays {result}"
    )

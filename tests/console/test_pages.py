"""The console's pages over httpx: what they show (masked), what their actions do, what they record."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from altinn_notifications.bootstrap import Container
from altinn_notifications.providers.base import Attachment
from altinn_notifications.providers.email.simulated import SimulatedEmailProvider
from altinn_notifications.providers.outbox import Outbox
from altinn_notifications.providers.sms.simulated import SimulatedSmsProvider
from altinn_notifications.reports.repository import ReportRepository
from tests.conftest import ClientFactory
from tests.console.conftest import SignIn
from tests.pipeline.conftest import eventually
from tests.support.seeding import Sent, ago, seed_order

NIN = "16069412345"
EMAIL = "ola.nordmann@example.no"
PHONE = "+4799887766"


async def _audit(container: Container) -> list[dict[str, object]]:
    async with container.pool.acquire() as conn:
        rows = await conn.fetch("SELECT actor, action, target, outcome FROM consoleaudit ORDER BY id")
    return [dict(r) for r in rows]


async def _person_order(container: Container, **kwargs: object) -> uuid.UUID:
    sent = [Sent("email", EMAIL, nin=NIN), Sent("sms", PHONE, nin=NIN, result="Accepted")]
    return await seed_order(container, sent, send_time=ago(hours=2), senders_reference="ref-42", **kwargs)  # type: ignore[arg-type]


async def test_orders_are_found_by_id_reference_creator_state_and_time(
    client: httpx.AsyncClient, container: Container, sign_in: SignIn
) -> None:
    await sign_in(client)
    mine = await _person_order(container)
    other = await seed_order(container, [], send_time=ago(days=3), creator="digdir")
    listing = await client.get("/console/orders")
    assert str(mine) in listing.text and str(other) in listing.text
    cases: list[tuple[dict[str, str], set[uuid.UUID]]] = [
        ({"order_id": str(mine)}, {mine}),
        ({"reference": "ref-42"}, {mine}),
        ({"creator": "digdir"}, {other}),
        ({"status": "Completed", "creator": "ttd"}, {mine}),
        ({"status": "Registered"}, set()),
        ({"sent_from": (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")}, {mine}),
        ({"sent_to": (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")}, {other}),
    ]
    for params, expected in cases:
        page = await client.get("/console/orders", params=params)
        assert page.status_code == 200
        shown = {o for o in (mine, other) if f'href="/console/orders/{o}"' in page.text}
        assert shown == expected, params
    bad = await client.get("/console/orders", params={"order_id": "nope"})
    assert "An order id is a UUID." in bad.text


async def test_the_order_page_masks_addresses_and_a_reveal_is_audited(
    client: httpx.AsyncClient, container: Container, sign_in: SignIn
) -> None:
    csrf = await sign_in(client)
    order_id = await _person_order(container)
    page = await client.get(f"/console/orders/{order_id}")
    assert page.status_code == 200
    assert "ol***@example.no" in page.text and "+47******66" in page.text
    assert EMAIL not in page.text and PHONE not in page.text and NIN not in page.text
    assert "Email Delivered".upper() in page.text.upper() and "Completed" in page.text

    async with container.pool.acquire() as conn:
        notification = await conn.fetchval("SELECT alternateid FROM emailnotifications")
    shown = await client.post("/console/reveal", data={"csrf": csrf, "notification": str(notification)})
    assert shown.status_code == 200 and EMAIL in shown.text
    reveal = [a for a in await _audit(container) if a["action"] == "reveal"]
    assert reveal == [
        {"actor": "operator", "action": "reveal", "target": f"notification {notification}", "outcome": "ok"}
    ]
    assert (
        await client.post("/console/reveal", data={"csrf": csrf, "notification": str(uuid.uuid4())})
    ).status_code == 404
    assert (await client.get(f"/console/orders/{uuid.uuid4()}")).status_code == 404


async def test_cancel_from_the_order_page_follows_the_api_rule_and_is_audited(
    client: httpx.AsyncClient, container: Container, sign_in: SignIn, auth: dict[str, str]
) -> None:
    csrf = await sign_in(client)
    later = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    created = await client.post(
        "/notifications/api/v1/orders/email",
        headers=auth,
        json={
            "subject": "s",
            "body": "b",
            "requestedSendTime": later,
            "recipients": [{"emailAddress": EMAIL}],
        },
    )
    order_id = created.json()["orderId"]
    page = await client.get(f"/console/orders/{order_id}")
    assert "Cancel the order" in page.text
    done = await client.post(f"/console/orders/{order_id}/cancel", data={"csrf": csrf})
    assert (
        done.status_code == 303 and done.headers["location"] == f"/console/orders/{order_id}?done=cancelled"
    )
    after = await client.get(done.headers["location"])
    assert "The order is cancelled." in after.text and "Cancel the order" not in after.text
    status = await client.get(f"/notifications/api/v1/orders/{order_id}/status", headers=auth)
    assert status.json()["processingStatus"]["status"] == "Cancelled"

    completed = await _person_order(container)
    refused = await client.post(f"/console/orders/{completed}/cancel", data={"csrf": csrf})
    assert refused.headers["location"].endswith("?done=prohibited")
    cancels = [(a["target"], a["outcome"]) for a in await _audit(container) if a["action"] == "cancel"]
    assert cancels == [(f"order {order_id}", "cancelled"), (f"order {completed}", "prohibited")]


async def test_recipient_lookups_are_posted_masked_and_audited_without_the_identifier(
    client: httpx.AsyncClient, container: Container, sign_in: SignIn
) -> None:
    csrf = await sign_in(client)
    order_id = await _person_order(container)
    await seed_order(container, [Sent("email", "someone@else.no", nin="01017012345")], send_time=ago(hours=1))
    form = {"csrf": csrf, "kind": "nin", "identifier": NIN}
    page = await client.post("/console/recipients", data=form)
    assert page.status_code == 200
    assert "1 order(s) found." in page.text and str(order_id) in page.text
    assert "ol***@example.no" in page.text and "+47******66" in page.text
    assert EMAIL not in page.text and PHONE not in page.text
    assert "someone@else.no" not in page.text and "so***@else.no" not in page.text

    revealed = await client.post("/console/recipients", data={**form, "reveal": f"{order_id}:0"})
    assert revealed.text.count(EMAIL) == 1 and PHONE not in revealed.text

    invalid = await client.post("/console/recipients", data={**form, "identifier": "123"})
    assert "National identity number must be 11 digits long." in invalid.text

    by_email = await client.post(
        "/console/recipients", data={**form, "kind": "email", "identifier": EMAIL.upper()}
    )
    assert "1 order(s) found." in by_email.text

    audit = [a for a in await _audit(container) if a["action"] in ("lookup", "reveal")]
    assert [(a["action"], a["outcome"]) for a in audit] == [
        ("lookup", "1 orders"),
        ("reveal", "1 orders"),
        ("lookup", "refused: National identity number must be 11 digits long."),
        ("lookup", "1 orders"),
    ]
    assert all(NIN not in str(a) and EMAIL.lower() not in str(a).lower() for a in audit)
    # The same person gives the same fingerprint (lookups can be followed), another does not.
    assert audit[0]["target"] == f"nin #{container.console_signer.fingerprint(NIN)}"
    assert str(audit[1]["target"]).startswith(str(audit[0]["target"]))
    assert container.console_signer.fingerprint(NIN) != container.console_signer.fingerprint("01017012345")


async def test_outbox_renders_emails_sanitised_and_sms_as_a_phone_shows_them(
    make_client: ClientFactory, container: Container, sign_in: SignIn, tmp_path: Path
) -> None:
    outbox = Outbox(tmp_path)
    with_outbox = dataclasses.replace(container, outbox=outbox)
    client = make_client(with_outbox)
    csrf = await sign_in(client)
    html_id, plain_id, sms_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    outbox.record_email(
        provider="simulated", notification_id=html_id, to=EMAIL, from_="noreply@altinn.no", subject="Velkommen",
        body='<p onclick="steal()">Hei <b>Ola</b><script>alert(1)</script><img src="https://tracker.example/x.gif"></p>',
        result="Succeeded", reference="op-1", content_type="Html",
        attachments=(Attachment("vedtak.pdf", "application/pdf", b"%PDF-1.7 ..."),),
    )  # fmt: skip
    outbox.record_email(
        provider="smtp", notification_id=plain_id, to="kari@example.no", from_="noreply@altinn.no",
        subject="Plain", body="Line one\nLine <two>", result="Delivered", reference=None,
    )  # fmt: skip
    outbox.record_sms(
        provider="simulated", notification_id=sms_id, to=PHONE, from_="Altinn", body="Koden din er 1234 😀",
        result="Accepted", reference="gw-1",
    )  # fmt: skip
    listing = await client.get("/console/outbox")
    positions = [listing.text.index(f"/console/outbox/{i}") for i in (sms_id, plain_id, html_id)]
    assert positions == sorted(positions)  # newest first
    assert "ol***@example.no" in listing.text and EMAIL not in listing.text

    html = await client.get(f"/console/outbox/{html_id}")
    srcdoc = html.text.split('srcdoc="', 1)[1].split('"', 1)[0]
    assert "&lt;b&gt;Ola&lt;/b&gt;" in srcdoc and "<b>" not in srcdoc
    assert "script" not in srcdoc and "onclick" not in srcdoc
    assert '<iframe class="mail" sandbox srcdoc=' in html.text

    plain = await client.get(f"/console/outbox/{plain_id}")
    assert "Line <two>" not in plain.text and "Line &lt;two&gt;" in plain.text and "srcdoc" not in plain.text

    sms = await client.get(f"/console/outbox/{sms_id}")
    assert "Koden din er 1234 😀" in sms.text and "1 segment(s), UCS-2" in sms.text

    only_sms = await client.get("/console/outbox", params={"channel": "sms"})
    assert str(sms_id) in only_sms.text and str(html_id) not in only_sms.text
    filtered = await client.post("/console/outbox", data={"csrf": csrf, "recipient": f" {EMAIL.upper()} "})
    assert (
        str(html_id) in filtered.text
        and str(plain_id) not in filtered.text
        and str(sms_id) not in filtered.text
    )
    assert filtered.url.path == "/console/outbox" and not filtered.url.query
    filters = [a for a in await _audit(container) if a["action"] == "outbox-filter"]
    assert [f["target"] for f in filters] == [f"recipient #{container.console_signer.fingerprint(EMAIL)}"]
    assert (await client.get(f"/console/outbox/{uuid.uuid4()}")).status_code == 404


async def test_dead_reports_are_listed_and_replayed_one_or_all(
    client: httpx.AsyncClient, container: Container, sign_in: SignIn
) -> None:
    csrf = await sign_in(client)
    await _person_order(container)
    async with container.pool.acquire() as conn:
        await conn.execute("UPDATE emailnotifications SET operationid = 'op-known', result = 'Succeeded'")
    ids = []
    for reference in ("op-known", "op-unknown", "op-other"):
        async with container.transaction() as conn:
            ids.append(
                await ReportRepository(conn).add_dead(
                    "email",
                    {"reference": reference, "result": "Delivered", "report": {}},
                    attempts=6,
                    first_seen=datetime.now(UTC),
                    reason="RETRY_THRESHOLD_EXCEEDED",
                    message="no notification with this reference after 6 attempts",
                )
            )
    page = await client.get("/console/reports")
    assert "RETRY_THRESHOLD_EXCEEDED" in page.text and "op-unknown" in page.text
    one = await client.post("/console/reports/replay", data={"csrf": csrf, "id": str(ids[0])})
    assert "Replayed 1, resolved 1." in one.text and "op-known" not in one.text.split('id="reports"')[1]
    async with container.pool.acquire() as conn:
        result = await conn.fetchval("SELECT result::text FROM emailnotifications")
    assert result == "Delivered"
    everything = await client.post("/console/reports/replay", data={"csrf": csrf, "all": "1"})
    assert "Replayed 2, resolved 0." in everything.text and "not_found" in everything.text
    replays = [(a["target"], a["outcome"]) for a in await _audit(container) if a["action"] == "replay"]
    assert replays == [
        (f"reports {ids[0]}", "replayed 1, resolved 1"),
        ("all dead reports", "replayed 2, resolved 0"),
    ]


async def test_overview_shows_states_queues_rates_workers_and_configuration(
    make_client: ClientFactory,
    container: Container,
    sign_in: SignIn,
    run_workers: Callable[..., object],
    auth: dict[str, str],
    tmp_path: Path,
) -> None:
    outbox = Outbox(tmp_path)
    pipeline = dataclasses.replace(
        container,
        outbox=outbox,
        email_provider=SimulatedEmailProvider(outbox, report_delay=0.05),
        sms_provider=SimulatedSmsProvider(outbox, report_delay=0.05),
    )
    client = make_client(pipeline)
    await sign_in(client)
    async with run_workers(container=pipeline) as workers:  # type: ignore[attr-defined]
        created = await client.post(
            "/notifications/api/v1/orders/email",
            headers=auth,
            json={"subject": "s", "body": "b", "recipients": [{"emailAddress": EMAIL}]},
        )
        order_id = created.json()["orderId"]

        async def completed() -> bool:  # delivered and final (the v1 status says Completed sooner)
            async with container.pool.acquire() as conn:
                status = await conn.fetchval(
                    "SELECT processedstatus::text FROM orders WHERE alternateid = $1::uuid", order_id
                )
            return bool(status == "Completed")

        await eventually(completed)
        await workers.heartbeats.flush(pipeline.transaction)
    page = await client.get("/console")
    text = page.text
    assert page.status_code == 200
    assert "Completed" in text and "Delivered" in text
    assert "Email waiting to be sent" in text
    assert workers.heartbeats.worker in text  # worker liveness, per loop
    for loop in ("orders", "email", "sms"):
        assert f"<td>{loop}</td>" in text
    assert "simulated" in text and "registers" in text
    await pipeline.email_provider.close()
    await pipeline.sms_provider.close()


async def test_the_order_page_shows_the_chain_and_its_reminders(
    client: httpx.AsyncClient, sign_in: SignIn, auth: dict[str, str]
) -> None:
    await sign_in(client)
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat().replace("+00:00", "Z")
    email = {"emailAddress": EMAIL, "emailSettings": {"subject": "Oppgave", "body": "Du har en oppgave."}}
    body = {
        "idempotencyId": "console-chain-1",
        "sendersReference": "chain-ref",
        "requestedSendTime": later,
        "recipient": {"recipientEmail": email},
        "reminders": [
            {"sendersReference": "chain-reminder", "delayDays": 3, "recipient": {"recipientEmail": email}}
        ],
    }
    receipt = await client.post("/notifications/api/v1/future/orders", json=body, headers=auth)
    assert receipt.status_code == 201, receipt.text
    chain_id = receipt.json()["notificationOrderId"]
    main_id = receipt.json()["notification"]["shipmentId"]
    reminder_id = receipt.json()["notification"]["reminders"][0]["shipmentId"]
    page = await client.get(f"/console/orders/{main_id}")
    chain = page.text.split("<h2>Chain</h2>", 1)[1].split("</section>", 1)[0]
    assert chain_id in chain and "console-chain-1" in chain
    assert f'href="/console/orders/{reminder_id}"' in chain and "Reminder" in chain
    assert "Du har en oppgave." in page.text and "Cancel the order" in page.text
    reminder = await client.get(f"/console/orders/{reminder_id}")
    assert f'href="/console/orders/{main_id}"' in reminder.text

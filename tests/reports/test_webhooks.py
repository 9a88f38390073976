"""The vendor delivery-report webhooks over real HTTP (docs/compatibility.md C12, C14)."""

from __future__ import annotations

import json
from datetime import timedelta

import httpx
import pytest

from altinn_notifications.api.app import create_app
from altinn_notifications.bootstrap import Container
from altinn_notifications.reports.worker import ReportRetrier
from tests.loopback import serve
from tests.pipeline.conftest import eventually
from tests.providers.fake_acs import delivery_event, validation_event
from tests.providers.fake_linkmobility import report_xml
from tests.reports.conftest import (
    ACCESS_KEY,
    FAST_REPORT_RETRIES,
    SMS_PASSWORD,
    SMS_USER,
    add_notification,
    dead_reports,
    notification,
    order_status,
    waiting_reports,
)

EMAIL = "/notifications/email/api/v1/reports"
SMS = "/notifications/sms/api/v1/reports"


async def _post_events(url: str, events: object, key: str | None = ACCESS_KEY) -> httpx.Response:
    params = {"accesskey": key} if key is not None else {}
    async with httpx.AsyncClient() as http:
        return await http.post(url + EMAIL, params=params, json=events)


async def _post_sms(
    url: str, body: str | bytes, auth: tuple[str, str] | None = (SMS_USER, SMS_PASSWORD)
) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await http.post(
            url + SMS, content=body, headers={"Content-Type": "application/xml"}, auth=auth
        )


# --- Event Grid (ACS email) ---


async def test_subscription_validation_handshake(app_url: str) -> None:
    response = await _post_events(app_url, [validation_event("512d38b6-c7b8-40c8-89fe-f46f9e9622b6")])
    assert response.status_code == 200
    assert response.json() == {"validationResponse": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"}


async def test_report_is_applied_and_completes_the_order(app_url: str, report_settings: Container) -> None:
    row = await add_notification(report_settings, result="Succeeded", reference="op-1")
    response = await _post_events(app_url, [delivery_event("op-1", "Delivered")])
    assert response.status_code == 200 and response.content == b""
    stored = await notification(report_settings, row)
    assert stored["result"] == "Delivered"
    assert stored["deliveryreport"]["data"]["messageId"] == "op-1"
    assert await order_status(report_settings, row.order_id) == "Completed"
    async with report_settings.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM statusfeed WHERE orderid = $1", row.order_id) == 1


async def test_validation_and_reports_in_one_delivery(app_url: str, report_settings: Container) -> None:
    row = await add_notification(
        report_settings, result="Sending", reference="op-2"
    )  # the poll has not answered yet
    response = await _post_events(app_url, [validation_event("code"), delivery_event("op-2", "Bounced")])
    assert response.json() == {"validationResponse": "code"}
    assert (await notification(report_settings, row))["result"] == "Failed_Bounced"


@pytest.mark.parametrize("key", ["wrong-key", "", None, ACCESS_KEY + "x"])
async def test_wrong_or_missing_access_key_is_401(
    app_url: str, report_settings: Container, key: str | None
) -> None:
    row = await add_notification(report_settings, reference="op-3")
    response = await _post_events(
        app_url, [validation_event("c"), delivery_event("op-3", "Delivered")], key=key
    )
    assert response.status_code == 401
    assert response.text == "Unauthorized client"
    assert (await notification(report_settings, row))["result"] == "Succeeded"


async def test_webhook_without_a_configured_key_refuses_everyone(container: Container) -> None:
    assert container.settings.acs_reports_access_key is None
    async with serve(create_app(container)) as url:
        assert (await _post_events(url, [validation_event("c")], key="anything")).status_code == 401
        assert (await _post_sms(url, report_xml([("1", "r", "DELIVRD")]), auth=("", ""))).status_code == 401


async def test_malformed_event_body_is_400(app_url: str) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.post(app_url + EMAIL, params={"accesskey": ACCESS_KEY}, content=b"{not json")
    assert response.status_code == 400
    assert (await _post_events(app_url, ["not an event"])).status_code == 400


async def test_unrecognised_status_and_missing_message_id_become_dead_reports(
    app_url: str, report_settings: Container
) -> None:
    response = await _post_events(
        app_url, [delivery_event("op-4", "Pending"), delivery_event(None, "Delivered")]
    )
    assert response.status_code == 200
    dead = await dead_reports(report_settings)
    assert [(d["channel"], d["reason"], d["attemptcount"], d["resolved"]) for d in dead] == [
        (1, "UNRECOGNIZED_SEND_RESULT", 1, False),
        (1, "INVALID_NOTIFICATION_IDENTIFIER", 1, False),
    ]
    assert dead[0]["deliveryreport"]["report"]["data"]["status"] == "Pending"


async def test_report_for_an_expired_notification_is_dead_at_once(
    app_url: str, report_settings: Container
) -> None:
    row = await add_notification(report_settings, reference="op-5", expires_in=timedelta(seconds=-1))
    assert (await _post_events(app_url, [delivery_event("op-5", "Delivered")])).status_code == 200
    stored = await notification(report_settings, row)
    assert stored["result"] == "Succeeded"  # unchanged
    assert stored["deliveryreport"]["data"]["status"] == "Delivered"  # but the report is kept on the row
    assert [d["reason"] for d in await dead_reports(report_settings)] == ["NOTIFICATION_EXPIRED"]
    assert await waiting_reports(report_settings) == []


async def test_a_late_duplicate_is_ignored(app_url: str, report_settings: Container) -> None:
    row = await add_notification(report_settings, result="Delivered", reference="op-6")
    assert (await _post_events(app_url, [delivery_event("op-6", "Bounced")])).status_code == 200
    assert (await notification(report_settings, row))["result"] == "Delivered"
    assert await dead_reports(report_settings) == [] and await waiting_reports(report_settings) == []


# --- reports that overtake their send result (docs/compatibility.md C14): retried, then dead ---


async def test_report_before_the_send_result_waits_and_is_applied_later(
    app_url: str, report_settings: Container
) -> None:
    assert (await _post_events(app_url, [delivery_event("op-late", "Delivered")])).status_code == 200
    waiting = await waiting_reports(report_settings)
    assert [(w["channel"], w["reference"], w["result"], w["attemptcount"]) for w in waiting] == [
        (1, "op-late", "Delivered", 1)
    ]
    # The send result arrives: the notification now carries the operation id.
    row = await add_notification(report_settings, result="Sending", reference="op-late")
    retrier = ReportRetrier(report_settings.transaction, FAST_REPORT_RETRIES)

    async def applied() -> bool:
        await retrier.run_once()
        return (await notification(report_settings, row))["result"] == "Delivered"

    await eventually(applied, within=5)
    assert await waiting_reports(report_settings) == []
    assert await dead_reports(report_settings) == []
    assert await order_status(report_settings, row.order_id) == "Completed"


async def test_report_that_never_finds_its_notification_becomes_dead(
    app_url: str, report_settings: Container
) -> None:
    assert (await _post_sms(app_url, report_xml([("1", "gw-unknown", "DELIVRD")]))).status_code == 200
    retrier = ReportRetrier(report_settings.transaction, FAST_REPORT_RETRIES)

    async def dead() -> bool:
        await retrier.run_once()
        return bool(await dead_reports(report_settings))

    await eventually(dead, within=5)
    [report] = await dead_reports(report_settings)
    assert report["channel"] == 2
    assert report["reason"] == "RETRY_THRESHOLD_EXCEEDED"
    assert report["attemptcount"] == len(FAST_REPORT_RETRIES) + 1
    assert report["deliveryreport"]["reference"] == "gw-unknown"
    assert report["deliveryreport"]["result"] == "Delivered"
    assert report["firstseen"] < report["lastattempt"]
    assert await waiting_reports(report_settings) == []


# --- LINK Mobility (SMS) ---


async def test_sms_report_is_applied_and_acknowledged(app_url: str, report_settings: Container) -> None:
    row = await add_notification(report_settings, "sms", result="Accepted", reference="984342374")
    response = await _post_sms(app_url, report_xml([("1", "984342374", "DELIVRD")]))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")
    assert response.content == (
        b'<?xml version="1.0"?>\n<MSGLST><MSG><ID>1</ID><STATUS>OK</STATUS></MSG></MSGLST>'
    )
    stored = await notification(report_settings, row, "sms")
    assert stored["result"] == "Delivered"
    assert stored["deliveryreport"] == {
        "reference": "984342374",
        "receiver": "4799999999",
        "state": "DELIVRD",
        "deliveryTime": "2026.11.27 12:00:00",
    }
    assert await order_status(report_settings, row.order_id) == "Completed"


async def test_sms_reports_in_one_post(app_url: str, report_settings: Container) -> None:
    first = await add_notification(report_settings, "sms", result="Accepted", reference="r1")
    second = await add_notification(
        report_settings, "sms", result="Accepted", reference="r2", order_id=first.order_id
    )
    body = report_xml([("1", "r1", "BARRED"), ("2", "r2", "EXPIRED"), ("3", "r3", "SOMETHING")])
    response = await _post_sms(app_url, body)
    assert response.status_code == 200
    assert response.text.count("<STATUS>OK</STATUS>") == 3
    assert (await notification(report_settings, first, "sms"))["result"] == "Failed_BarredReceiver"
    assert (await notification(report_settings, second, "sms"))["result"] == "Failed_Expired"
    assert [d["reason"] for d in await dead_reports(report_settings)] == ["UNRECOGNIZED_SEND_RESULT"]
    assert await order_status(report_settings, first.order_id) == "Completed"


@pytest.mark.parametrize(
    "auth",
    [None, (SMS_USER, "wrong"), ("someone", SMS_PASSWORD), ("", "")],
    ids=["missing", "wrong-password", "wrong-user", "empty"],
)
async def test_sms_webhook_needs_basic_auth(
    app_url: str, report_settings: Container, auth: tuple[str, str] | None
) -> None:
    row = await add_notification(report_settings, "sms", result="Accepted", reference="r9")
    response = await _post_sms(app_url, report_xml([("1", "r9", "DELIVRD")]), auth=auth)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Basic")
    assert (await notification(report_settings, row, "sms"))["result"] == "Accepted"


async def test_sms_webhook_rejects_a_bearer_or_garbage_authorization(app_url: str) -> None:
    async with httpx.AsyncClient() as http:
        for header in ("Bearer abc", "Basic !!!notbase64", "Basic " + "dXNlcm5hbWU="):  # no colon
            response = await http.post(app_url + SMS, content=b"<MSGLST/>", headers={"Authorization": header})
            assert response.status_code == 401


@pytest.mark.parametrize("body", [b"", b"   ", b"<MSGLST>", b"<SESSION/>", json.dumps({"a": 1}).encode()])
async def test_sms_webhook_rejects_malformed_bodies(app_url: str, body: bytes) -> None:
    assert (await _post_sms(app_url, body)).status_code == 400

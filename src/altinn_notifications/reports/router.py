"""Vendor delivery-report webhooks, at the reference's paths (docs/compatibility.md C14).

- `POST /notifications/email/api/v1/reports?accesskey=...`: Azure Event Grid (ACS email). The access key
  (`NOTIFICATIONS_ACS_REPORTS_ACCESS_KEY`) is compared in constant time, else 401 "Unauthorized client".
  Answers the subscription-validation handshake with `{"validationResponse": code}`; applies
  `Microsoft.Communication.EmailDeliveryReportReceived` events by operation id (`messageId`).
- `POST /notifications/sms/api/v1/reports`: LINK Mobility PSWin XML reports, HTTP Basic auth
  (`NOTIFICATIONS_SMS_REPORTS_USERNAME`/`_PASSWORD`, constant time), else 401. Answers the receipt the
  gateway expects (`<MSGLST><MSG><ID/><STATUS>OK</STATUS></MSG></MSGLST>`); 400 on a malformed body.

A webhook answers 2xx only after the reports are applied or persisted in the database (reports that
overtook their send result wait in `deliveryreportretries`; see `reports.service`), so the vendor need not
resend; a 5xx (database down) makes the vendor retry. Not part of the public OpenAPI document.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from altinn_notifications.api.deps import ContainerDep
from altinn_notifications.providers.email.acs import parse_event_grid
from altinn_notifications.providers.sms.linkmobility import (
    XmlRejected,
    parse_delivery_reports,
    report_acknowledgement,
)
from altinn_notifications.reports.flows import receive_reports

log = structlog.get_logger(__name__)

router = APIRouter(include_in_schema=False)

EMAIL_REPORTS_PATH = "/notifications/email/api/v1/reports"
SMS_REPORTS_PATH = "/notifications/sms/api/v1/reports"


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def _unauthorized() -> Response:
    return PlainTextResponse("Unauthorized client", status_code=401)


@router.post(EMAIL_REPORTS_PATH)
async def email_delivery_reports(
    request: Request, container: ContainerDep, accesskey: str | None = None
) -> Response:
    expected = container.settings.acs_reports_access_key
    if expected is None or not expected.get_secret_value() or accesskey is None:
        return _unauthorized()
    if not _same(accesskey, expected.get_secret_value()):
        return _unauthorized()
    try:
        delivery = parse_event_grid(json.loads(await request.body()))
    except ValueError:
        return PlainTextResponse("The body must be a JSON array of Event Grid events.", status_code=400)
    if delivery.reports or delivery.rejected:
        summary = await receive_reports(
            container.transaction,
            delivery.reports,
            delivery.rejected,
            container.settings.report_retry_schedule_seconds,
            container.clock(),
        )
        log.info(
            "email delivery reports received",
            applied=summary.applied,
            waiting=summary.retrying,
            dead=summary.dead,
            duplicates=summary.duplicates,
        )
    if delivery.validation_code is not None:
        log.info("event grid subscription validated")
        return JSONResponse({"validationResponse": delivery.validation_code})
    return Response(status_code=200)


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    username, colon, password = decoded.partition(":")
    return (username, password) if colon else None


@router.post(SMS_REPORTS_PATH)
async def sms_delivery_reports(request: Request, container: ContainerDep) -> Response:
    settings = container.settings
    username, password = settings.sms_reports_username, settings.sms_reports_password
    given = _basic_credentials(request)
    if (
        not username
        or password is None
        or not password.get_secret_value()
        or given is None
        # both compared, always: the time does not tell which one was wrong
        or not (_same(given[0], username) & _same(given[1], password.get_secret_value()))
    ):
        return Response(status_code=401, headers={"WWW-Authenticate": 'Basic realm="sms-reports"'})
    body = await request.body()
    if not body.strip():
        return PlainTextResponse("Error: Content is empty", status_code=400)
    try:
        delivery = parse_delivery_reports(body)
    except XmlRejected as exc:
        return PlainTextResponse(str(exc), status_code=400)
    summary = await receive_reports(
        container.transaction,
        delivery.reports,
        delivery.rejected,
        settings.report_retry_schedule_seconds,
        container.clock(),
    )
    log.info(
        "sms delivery reports received",
        applied=summary.applied,
        waiting=summary.retrying,
        dead=summary.dead,
        duplicates=summary.duplicates,
    )
    return Response(report_acknowledgement(delivery.ids), media_type="application/xml")

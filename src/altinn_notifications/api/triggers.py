"""Trigger endpoints, for compatibility with the reference's cron jobs and for operations; nothing here
depends on an external cron (the workers run the same jobs on their own timers).

Unauthenticated as in the reference (keep them network-internal), unless NOTIFICATIONS_TRIGGERS_API_KEY
is set: then the `X-API-Key` header must carry it. Hidden from OpenAPI; switched off with
NOTIFICATIONS_TRIGGERS_ENABLED=false. A job runs at most once at a time per process: callers arriving
while it runs wait for that run (`queue.loop.SingleFlight`), so many callers cost one run.
"""

from __future__ import annotations

import hmac
from typing import Annotated

import structlog
from fastapi import APIRouter, Depends, Header
from fastapi.responses import PlainTextResponse, Response

from altinn_notifications.api.deps import ContainerDep
from altinn_notifications.errors import NotFoundError, UnauthorizedError
from altinn_notifications.processing.rules import is_daytime
from altinn_notifications.queue.channels import EMAIL_NEW, SMS_NEW
from altinn_notifications.queue.loop import SingleFlight
from altinn_notifications.queue.operations import wake_workers

log = structlog.get_logger(__name__)


def _allowed(
    container: ContainerDep, api_key: Annotated[str | None, Header(alias="X-API-Key")] = None
) -> None:
    if not container.settings.triggers_enabled:
        raise NotFoundError()
    expected = container.settings.triggers_api_key
    if expected is not None and expected.get_secret_value():
        given = (api_key or "").encode("utf-8")
        if not hmac.compare_digest(given, expected.get_secret_value().encode("utf-8")):
            raise UnauthorizedError()


router = APIRouter(prefix="/trigger", include_in_schema=False, dependencies=[Depends(_allowed)])


async def _run(run: SingleFlight, failure: str) -> Response:
    try:
        await run.run()
    except Exception as exc:
        log.error("triggered job failed", error=type(exc).__name__)
        return PlainTextResponse(failure, status_code=500)
    return Response(status_code=200)


@router.post("/pastdueorders")
async def past_due_orders(container: ContainerDep) -> Response:
    """Runs the due-order loop synchronously, as the reference does, until no full batch is left."""
    await container.triggered.past_due_orders.run()
    return Response(status_code=200)


@router.post("/sendemail")
async def send_email(container: ContainerDep) -> Response:
    """Wakes every worker's email loop (standard and composed)."""
    await wake_workers(container.transaction, EMAIL_NEW)
    return Response(status_code=200)


@router.post("/sendsmsanytime")
async def send_sms_anytime(container: ContainerDep) -> Response:
    await wake_workers(container.transaction, SMS_NEW)
    return Response(status_code=200)


@router.post("/sendsms")
@router.post("/sendsmsdaytime")
async def send_sms_daytime(container: ContainerDep) -> Response:
    """Only inside the daytime window (09-17 Oslo); otherwise does nothing."""
    if is_daytime(container.clock()):
        await wake_workers(container.transaction, SMS_NEW)
    return Response(status_code=200)


@router.post("/terminateexpirednotifications")
async def terminate_expired(container: ContainerDep) -> Response:
    return await _run(container.triggered.terminate_expired, "Failed to terminate expired notifications")


@router.post("/deleteoldstatusfeedrecords")
async def delete_old_status_feed_records(container: ContainerDep) -> Response:
    return await _run(container.triggered.prune_status_feed, "Failed to delete old status feed records")

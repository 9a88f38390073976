"""Trigger endpoints (spec 5.1), for compatibility and operations; nothing depends on an external cron.

Unauthenticated as in the reference (network-protected); hidden from OpenAPI; switched off with
NOTIFICATIONS_TRIGGERS_ENABLED=false.
"""

from __future__ import annotations

import structlog
from fastapi import APIRouter, Depends
from fastapi.responses import PlainTextResponse, Response

from altinn_notifications.api.deps import ContainerDep
from altinn_notifications.dispatch.service import Maintenance, MaintenanceConfig
from altinn_notifications.errors import NotFoundError
from altinn_notifications.processing.repository import EMAIL_CHANNEL, SMS_CHANNEL, ProcessingRepository
from altinn_notifications.processing.rules import is_daytime
from altinn_notifications.processing.service import OrderProcessor
from altinn_notifications.workers import processing_config

log = structlog.get_logger(__name__)


def _enabled(container: ContainerDep) -> None:
    if not container.settings.triggers_enabled:
        raise NotFoundError()


router = APIRouter(prefix="/trigger", include_in_schema=False, dependencies=[Depends(_enabled)])


async def _notify(container: ContainerDep, channel: str) -> None:
    async with container.transaction() as conn:
        await ProcessingRepository(conn).notify(channel)


@router.post("/pastdueorders")
async def past_due_orders(container: ContainerDep) -> Response:
    """Runs the due-order loop synchronously, as the reference does, until no full batch is left."""
    settings = container.settings
    processor = OrderProcessor(
        container.transaction,
        container.contact_points,
        container.party_names,
        container.condition,
        processing_config(settings),
    )
    while await processor.run_once() >= settings.processing_batch_size:
        pass
    return Response(status_code=200)


@router.post("/sendemail")
async def send_email(container: ContainerDep) -> Response:
    """Wakes every worker's email loop (standard and composed)."""
    await _notify(container, EMAIL_CHANNEL)
    return Response(status_code=200)


@router.post("/sendsmsanytime")
async def send_sms_anytime(container: ContainerDep) -> Response:
    await _notify(container, SMS_CHANNEL)
    return Response(status_code=200)


@router.post("/sendsms")
@router.post("/sendsmsdaytime")
async def send_sms_daytime(container: ContainerDep) -> Response:
    """Only inside the daytime window (09-17 Oslo); otherwise does nothing."""
    if is_daytime(container.clock()):
        await _notify(container, SMS_CHANNEL)
    return Response(status_code=200)


@router.post("/terminateexpirednotifications")
async def terminate_expired(container: ContainerDep) -> Response:
    try:
        await Maintenance(container.transaction, MaintenanceConfig()).terminate_expired()
    except Exception as exc:
        log.error("terminating expired notifications failed", error=type(exc).__name__)
        return PlainTextResponse("Failed to terminate expired notifications", status_code=500)
    return Response(status_code=200)


@router.post("/deleteoldstatusfeedrecords")
async def delete_old_status_feed_records(container: ContainerDep) -> Response:
    try:
        await Maintenance(container.transaction, MaintenanceConfig()).delete_old_feed_entries()
    except Exception as exc:
        log.error("deleting old status feed records failed", error=type(exc).__name__)
        return PlainTextResponse("Failed to delete old status feed records", status_code=500)
    return Response(status_code=200)

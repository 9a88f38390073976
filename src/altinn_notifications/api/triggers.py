"""Trigger endpoints, for compatibility with the reference's cron jobs and for operations; nothing here
depends on an external cron (the workers run the same jobs on their own timers).

Unauthenticated as in the reference (network-protected); hidden from OpenAPI; switched off with
NOTIFICATIONS_TRIGGERS_ENABLED=false. Each endpoint runs the process's one instance of its job.
"""

from __future__ import annotations

import structlog
from fastapi import APIRouter, Depends
from fastapi.responses import PlainTextResponse, Response

from altinn_notifications.api.deps import ContainerDep
from altinn_notifications.errors import NotFoundError
from altinn_notifications.processing.rules import is_daytime
from altinn_notifications.queue.channels import EMAIL_NEW, SMS_NEW
from altinn_notifications.queue.maintenance import Job
from altinn_notifications.queue.operations import wake_workers

log = structlog.get_logger(__name__)


def _enabled(container: ContainerDep) -> None:
    if not container.settings.triggers_enabled:
        raise NotFoundError()


router = APIRouter(prefix="/trigger", include_in_schema=False, dependencies=[Depends(_enabled)])


async def _run(job: Job, failure: str) -> Response:
    try:
        await job.run()
    except Exception as exc:
        log.error("triggered job failed", job=job.name, error=type(exc).__name__)
        return PlainTextResponse(failure, status_code=500)
    return Response(status_code=200)


@router.post("/pastdueorders")
async def past_due_orders(container: ContainerDep) -> Response:
    """Runs the due-order loop synchronously, as the reference does, until no full batch is left."""
    processor = container.order_processor
    while await processor.run_once() >= processor.config.batch_size:
        pass
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
    return await _run(container.maintenance.ttl, "Failed to terminate expired notifications")


@router.post("/deleteoldstatusfeedrecords")
async def delete_old_status_feed_records(container: ContainerDep) -> Response:
    return await _run(container.maintenance.feed_pruning, "Failed to delete old status feed records")

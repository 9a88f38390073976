"""Small unauthenticated endpoints: the condition test endpoint (docs/compatibility.md C16) and Prometheus `/metrics`."""

from __future__ import annotations

import os

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess

from altinn_notifications.api.deps import ContainerDep
from altinn_notifications.metrics import QUEUE_DEPTH
from altinn_notifications.queue.operations import queue_depths

router = APIRouter()


@router.get("/notifications/api/v1/tests/sendcondition", tags=["Tests"])
async def send_condition(conditionMet: bool) -> JSONResponse:
    """A condition endpoint for senders' own tests: answers what it is asked to."""
    return JSONResponse({"sendNotification": conditionMet})


@router.get("/metrics", include_in_schema=False)
async def metrics(container: ContainerDep) -> Response:
    for queue, depth in (await queue_depths(container.transaction)).items():
        QUEUE_DEPTH.labels(queue=queue).set(depth)
    return Response(generate_latest(_registry()), media_type=CONTENT_TYPE_LATEST)


def _registry() -> CollectorRegistry:
    """This process's metrics, or all API processes' when they share a multiprocess directory."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return registry

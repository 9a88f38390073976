"""`GET /health`: unauthenticated; answers `Healthy` when the database answers."""

from __future__ import annotations

from fastapi.responses import PlainTextResponse

from altinn_notifications.api.deps import ContainerDep
from altinn_notifications.api.routing import PathFilteredRouter
from altinn_notifications.db.pool import database_answers

router = PathFilteredRouter(tags=["Health"])  # tried first, for every request (api/routing.py)


@router.get("/health", response_class=PlainTextResponse)
async def health(container: ContainerDep) -> PlainTextResponse:
    if not await database_answers(container.pool):
        return PlainTextResponse("Unhealthy", status_code=503)
    return PlainTextResponse("Healthy")

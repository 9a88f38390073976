"""The FastAPI application factory."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from altinn_notifications.api import health, misc, triggers
from altinn_notifications.api.deps import document_creator_security
from altinn_notifications.api.limits import RequestLimitMiddleware
from altinn_notifications.api.problems import (
    document_validation_problems,
    http_problem,
    install_error_handlers,
)
from altinn_notifications.api.routing import API_PREFIX
from altinn_notifications.api.tracing import TraceMiddleware
from altinn_notifications.bootstrap import Container, freeze_startup_objects
from altinn_notifications.chains import router as chains_router
from altinn_notifications.console import routes as console_routes
from altinn_notifications.orders import router as orders_router
from altinn_notifications.reports import router as reports_router
from altinn_notifications.statistics import router as statistics_router
from altinn_notifications.status import log_router, shipment_router
from altinn_notifications.status import router as status_router
from altinn_notifications.support import router as support_router
from altinn_notifications.workers import Workers


def create_app(
    container: Container | None = None,
    *,
    container_factory: Callable[[], Awaitable[Container]] | None = None,
    run_workers: bool = False,
    on_ready: Callable[[Container], None] | None = None,
) -> FastAPI:
    """Build the app around a ready container (tests) or one built at start-up (serve, api).

    With `run_workers` the background loops run in the same process (the embedded default, `serve`);
    `on_ready` is called once the container is built (`serve` prints the console's sign-in link then).
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if container is not None:
            app.state.container = container
            yield
            return
        assert container_factory is not None, "create_app needs a container or a container_factory"
        built = await container_factory()
        app.state.container = built
        freeze_startup_objects()
        workers = Workers(built) if run_workers else None
        task = asyncio.create_task(workers.run()) if workers else None
        if on_ready is not None:
            on_ready(built)
        try:
            yield
        finally:
            if workers and task:
                workers.request_stop()
                await task
            await built.close()

    app = FastAPI(
        title="Altinn Notifications",
        version="1.0",
        description="Self-hostable, API-compatible Altinn Notifications: email and SMS orders.",
        lifespan=lifespan,
        docs_url="/swagger",
        openapi_url="/swagger/v1/swagger.json",
        # FastAPI's OpenTelemetry bridge asks, on every request, whether a provider is configured (an
        # environment lookup, ~5 % of the API's CPU). We trace with our own W3C ids and Prometheus.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    if container is not None:
        app.state.container = container

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = document_validation_problems(_default_openapi())
            app.openapi_schema = document_creator_security(schema, app.routes)
        return app.openapi_schema

    _default_openapi = app.openapi
    app.openapi = openapi  # type: ignore[method-assign]
    # Outermost first: the trace id exists before a body is refused, so the 413 names it.
    app.add_middleware(RequestLimitMiddleware, answer=http_problem)
    app.add_middleware(TraceMiddleware)
    install_error_handlers(app)
    # Routes are matched in this order, one by one, and each route tried costs: the load balancer's
    # health probe and the order intake (v1, then v2), the most frequent requests, come first. Only
    # `/orders` is shared, by the v1 intake (POST) and the v1 reads (GET): the method decides.
    app.include_router(health.router)
    app.include_router(orders_router.intake_router)  # its own prefix: api/routing.py
    app.include_router(chains_router.router, prefix=API_PREFIX)
    app.include_router(orders_router.router, prefix=API_PREFIX)
    app.include_router(misc.router)
    app.include_router(triggers.router, prefix=API_PREFIX)
    app.include_router(status_router.router, prefix=API_PREFIX)
    app.include_router(shipment_router.router, prefix=API_PREFIX)
    app.include_router(log_router.router, prefix=API_PREFIX)
    app.include_router(statistics_router.router, prefix=API_PREFIX)
    app.include_router(support_router.router, prefix=API_PREFIX)
    app.include_router(reports_router.router)
    console_routes.install(app)
    return app

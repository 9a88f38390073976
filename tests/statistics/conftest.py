"""The app with the metrics router mounted as the lead mounts it, over a container with a metrics key."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import httpx
import pytest
from pydantic import SecretStr

from altinn_notifications.api.app import API_PREFIX, create_app
from altinn_notifications.bootstrap import Container
from altinn_notifications.config import Settings

METRICS = f"{API_PREFIX}/metrics"
API_KEY = "s3cret-metrics-key"
# The exports are of "yesterday": the stats app runs on a fixed clock, test data is placed on its day before.
NOW = datetime(2026, 3, 15, 8, 30, tzinfo=UTC)
YESTERDAY_NOON = datetime(2026, 3, 14, 12, 0, tzinfo=UTC)


class MetricsSettings(Settings):
    """The two settings the lead adds to `Settings` (NOTIFICATIONS_METRICS_API_KEY, NOTIFICATIONS_ENVIRONMENT)."""

    metrics_api_key: SecretStr | None = None
    environment_name: str = "local"


StatsClientFactory = Callable[..., httpx.AsyncClient]


@pytest.fixture
async def stats_client_for(container: Container) -> AsyncIterator[StatsClientFactory]:
    """Clients of the app over a copy of the container with the given metrics settings and clock."""
    opened: list[httpx.AsyncClient] = []

    def make(
        api_key: str | None = API_KEY, environment: str = "test", now: datetime = NOW
    ) -> httpx.AsyncClient:
        values = container.settings.model_dump() | {
            "metrics_api_key": SecretStr(api_key) if api_key is not None else None,
            "environment_name": environment,
        }
        settings = MetricsSettings(**values)
        stats_container = dataclasses.replace(container, settings=settings, clock=lambda: now)
        app = create_app(stats_container)
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        http = httpx.AsyncClient(transport=transport, base_url="http://testserver")
        opened.append(http)
        return http

    yield make
    for http in opened:
        await http.aclose()


@pytest.fixture
def stats_client(stats_client_for: StatsClientFactory) -> httpx.AsyncClient:
    return stats_client_for()

"""The app with the metrics router mounted as the lead mounts it, over a container with a metrics key."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import pytest
from pydantic import SecretStr

from altinn_notifications.api.app import API_PREFIX
from altinn_notifications.config import Settings
from tests.conftest import ClientFactory, ContainerFactory

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
def stats_client_for(make_container: ContainerFactory, make_client: ClientFactory) -> StatsClientFactory:
    """Clients of the app over a copy of the container with the given metrics settings and clock."""

    def make(
        api_key: str | None = API_KEY, environment: str = "test", now: datetime = NOW
    ) -> httpx.AsyncClient:
        base = make_container()
        values = base.settings.model_dump() | {
            "metrics_api_key": SecretStr(api_key) if api_key is not None else None,
            "environment_name": environment,
        }
        return make_client(make_container(settings=MetricsSettings(**values), clock=lambda: now))

    return make


@pytest.fixture
def stats_client(stats_client_for: StatsClientFactory) -> httpx.AsyncClient:
    return stats_client_for()

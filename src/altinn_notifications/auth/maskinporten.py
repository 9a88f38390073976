"""Our own Maskinporten tokens, for the registers we call (KRR; optionally Altinn's, by exchange).

The JWT grant, the cache per scope set and the one-refresh-at-a-time rule are the client distribution's
(`altinn_notifications_client.maskinporten`, one implementation for senders and for this service); this
wrapper builds it from the settings and turns its failures into `DependencyError`, the pipeline's retry
signal, after logging Maskinporten's `error` and `error_description` (never a token or a key).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import structlog

from altinn_notifications.config import Settings, SettingsError
from altinn_notifications.errors import DependencyError
from altinn_notifications_client.maskinporten import (
    AsyncMaskinportenClient,
    Environment,
    MaskinportenConfig,
    MaskinportenError,
)

log = structlog.get_logger(__name__)


class MaskinportenTokens:
    """`AccessTokenPort`: a Maskinporten access token for a scope set, or an Altinn token exchanged for one."""

    def __init__(self, client: AsyncMaskinportenClient, *, altinn_scopes: Sequence[str] = ()) -> None:
        self._client = client
        self._altinn_scopes = tuple(altinn_scopes)

    async def access_token(self, scopes: Sequence[str]) -> str:
        try:
            return await self._client.access_token(list(scopes))
        except MaskinportenError as exc:
            raise _dependency_error("token", exc) from exc

    async def altinn_token(self) -> str:
        """An Altinn token exchanged for a Maskinporten token of the configured Altinn scopes."""
        try:
            return await self._client.altinn_token(list(self._altinn_scopes))
        except MaskinportenError as exc:
            raise _dependency_error("exchange", exc) from exc

    async def close(self) -> None:
        await self._client.aclose()


def _dependency_error(operation: str, exc: MaskinportenError) -> DependencyError:
    log.warning(
        "maskinporten refused",
        operation=operation,
        error=exc.error,
        error_description=exc.error_description,
        status=exc.status_code,
    )
    return DependencyError(f"Maskinporten {operation} failed: {exc.error}")


def maskinporten_config(settings: Settings) -> MaskinportenConfig:
    """The client of `NOTIFICATIONS_MASKINPORTEN_*`: a registered key (`kid`) or a business certificate."""
    missing = [name for name, value in settings.maskinporten_missing().items() if not value]
    if missing:
        raise SettingsError(", ".join(missing) + " required for Maskinporten")
    assert settings.maskinporten_issuer and settings.maskinporten_client_id and settings.maskinporten_key_file
    issuer = settings.maskinporten_issuer
    environment = Environment(
        issuer=issuer,
        token_endpoint=str(settings.maskinporten_token_url or issuer.rstrip("/") + "/token"),
        altinn_exchange_url=str(settings.altinn_token_exchange_url)
        if settings.altinn_token_exchange_url
        else None,
    )
    options: dict[str, Any] = {"environment": environment, "timeout": settings.maskinporten_timeout_seconds}
    key = _read(settings.maskinporten_key_file, "NOTIFICATIONS_MASKINPORTEN_KEY_FILE")
    try:
        if settings.maskinporten_certificate_file is not None:
            chain = _read(
                settings.maskinporten_certificate_file, "NOTIFICATIONS_MASKINPORTEN_CERTIFICATE_FILE"
            )
            return MaskinportenConfig.with_certificate(
                settings.maskinporten_client_id, key, [chain], **options
            )
        return MaskinportenConfig.with_key(
            settings.maskinporten_client_id, key, kid=settings.maskinporten_key_id, **options
        )
    except ValueError as exc:
        raise SettingsError(f"NOTIFICATIONS_MASKINPORTEN_*: {exc}") from None


def _read(path: Path, setting: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise SettingsError(f"{setting}: {exc}") from None


def build_maskinporten_tokens(
    settings: Settings, http: httpx.AsyncClient | None = None
) -> MaskinportenTokens:
    return MaskinportenTokens(
        AsyncMaskinportenClient(maskinporten_config(settings), http),
        altinn_scopes=settings.altinn_token_scopes,
    )

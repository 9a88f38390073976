"""Where the bearer token comes from: a fixed token, a function of yours, or Maskinporten.

A provider has `get_token()` (blocking) and `aget_token()` (asyncio); the clients ask for a token before
every request, so a provider that caches (Maskinporten's) renews it in time, and one asked after a 401 may
answer a new one. `invalidate()` is called after a 401 so that a cached token is not offered again.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:  # the Maskinporten module needs the `maskinporten` extra; imported when used
    from altinn_notifications_client.maskinporten import (
        AsyncMaskinportenClient,
        MaskinportenClient,
        MaskinportenConfig,
    )

#: The scope every order endpoint asks for; composed email needs `SCOPE_COMPOSED_EMAIL` too.
SCOPE_CREATE = "altinn:serviceowner/notifications.create"
SCOPE_COMPOSED_EMAIL = "altinn:serviceowner/notifications.composedemail.create"


@runtime_checkable
class TokenProvider(Protocol):
    def get_token(self) -> str: ...

    async def aget_token(self) -> str: ...

    def invalidate(self) -> None: ...


class StaticToken:
    """One token for the client's life (it does not renew: use it for tests and short scripts)."""

    def __init__(self, token: str):
        if not token.strip():
            raise ValueError("the token is empty")
        self._token = token.strip()

    def __repr__(self) -> str:
        return "StaticToken(***)"

    def get_token(self) -> str:
        return self._token

    async def aget_token(self) -> str:
        return self._token

    def invalidate(self) -> None:
        return None


class CallableToken:
    """A token from your function (plain or async), asked before every request: cache in it if it is slow.

    A plain function called from `AsyncClient` runs in a worker thread, so it may block.
    """

    def __init__(self, function: Callable[[], str] | Callable[[], Awaitable[str]]):
        self._function = function
        self._is_async = inspect.iscoroutinefunction(function)

    def _call(self) -> str:
        token = self._function()
        if not isinstance(token, str):
            raise TypeError("the token function must return a str")
        return token

    def get_token(self) -> str:
        if self._is_async:
            raise TypeError("an async token function needs AsyncClient")
        return self._call()

    async def aget_token(self) -> str:
        if not self._is_async:
            return await asyncio.to_thread(self._call)
        result = self._function()
        assert inspect.isawaitable(result)
        token = await result
        if not isinstance(token, str):
            raise TypeError("the token function must return a str")
        return token

    def invalidate(self) -> None:
        return None


class MaskinportenToken:
    """Maskinporten tokens for `scopes`, optionally exchanged for an Altinn token (what Altinn's own
    Notifications API wants; a self-hosted instance may take Maskinporten tokens directly).

    Built from a `MaskinportenConfig`; the blocking and the asyncio Maskinporten clients are made when
    first needed and share the configuration (each keeps its own cache).
    """

    def __init__(
        self,
        config: MaskinportenConfig,
        scopes: str | Sequence[str] = SCOPE_CREATE,
        *,
        resource: str | Sequence[str] | None = None,
        exchange_for_altinn: bool = False,
        exchange_url: str | None = None,
    ):
        self.config = config
        self.scopes = scopes
        self.resource = resource
        self.exchange_for_altinn = exchange_for_altinn
        self.exchange_url = exchange_url
        self._sync: MaskinportenClient | None = None
        self._async: AsyncMaskinportenClient | None = None

    def __repr__(self) -> str:
        return f"MaskinportenToken(client_id={self.config.client_id!r}, exchange_for_altinn={self.exchange_for_altinn})"

    def get_token(self) -> str:
        if self._sync is None:
            from altinn_notifications_client.maskinporten import MaskinportenClient

            self._sync = MaskinportenClient(self.config)
        if self.exchange_for_altinn:
            return self._sync.altinn_token(self.scopes, self.resource, exchange_url=self.exchange_url)
        return self._sync.access_token(self.scopes, self.resource)

    async def aget_token(self) -> str:
        if self._async is None:
            from altinn_notifications_client.maskinporten import AsyncMaskinportenClient

            self._async = AsyncMaskinportenClient(self.config)
        if self.exchange_for_altinn:
            return await self._async.altinn_token(self.scopes, self.resource, exchange_url=self.exchange_url)
        return await self._async.access_token(self.scopes, self.resource)

    def invalidate(self) -> None:
        for client in (self._sync, self._async):
            if client is not None:
                client.forget()

    def close(self) -> None:
        if self._sync is not None:
            self._sync.close()

    async def aclose(self) -> None:
        if self._async is not None:
            await self._async.aclose()


def as_provider(
    token: str | TokenProvider | Callable[[], str] | Callable[[], Awaitable[str]],
) -> TokenProvider:
    """A token provider from what the caller gave: a token, a provider, or a function."""
    if isinstance(token, str):
        return StaticToken(token)
    if isinstance(token, TokenProvider):
        return token
    if callable(token):
        return CallableToken(token)
    raise TypeError("token must be a str, a TokenProvider or a function returning a str")

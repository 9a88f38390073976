"""`Client` (blocking) and `AsyncClient` (asyncio): the same calls, the same rules; only the transport differs.

Every method builds its call in `_core` and runs its plan; the two classes carry out the plan's steps
with `httpx.Client` or `httpx.AsyncClient`. Every request has a timeout (30 s unless told otherwise).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, Protocol, TypeVar
from uuid import UUID

import httpx

from altinn_notifications_client import _core
from altinn_notifications_client._core import (
    API_PREFIX,
    Call,
    Endpoint,
    FeedItem,
    NeedToken,
    RetryPolicy,
    Send,
    Sleep,
)
from altinn_notifications_client.auth import TokenProvider, as_provider
from altinn_notifications_client.errors import WaitTimeoutError
from altinn_notifications_client.models import (
    ComposedEmailRequest,
    EmailNotificationOrderRequest,
    EmailNotificationSummary,
    InstantEmailNotificationOrderRequest,
    InstantSmsNotificationOrderRequest,
    NotificationDeliveryManifest,
    NotificationOrder,
    NotificationOrderChainRequest,
    NotificationOrderChainResponse,
    NotificationOrderList,
    NotificationOrderRequest,
    NotificationOrderRequestResponse,
    NotificationOrderWithStatus,
    OrderBy,
    SmsNotificationOrderRequest,
    SmsNotificationSummary,
    StatusFeedEntry,
)

T = TypeVar("T")
TokenInput = str | TokenProvider | Callable[[], str] | Callable[[], Awaitable[str]]
DEFAULT_TIMEOUT = 30.0


def _timeout(value: float | httpx.Timeout) -> httpx.Timeout:
    timeout = value if isinstance(value, httpx.Timeout) else httpx.Timeout(value)
    if None in (timeout.connect, timeout.read, timeout.write, timeout.pool):
        raise ValueError("every request needs a timeout: give one for connect, read, write and pool")
    return timeout


class _Base:
    def __init__(
        self,
        base_url: str,
        token: TokenInput,
        *,
        timeout: float | httpx.Timeout,
        retry: RetryPolicy | None,
        api_prefix: str,
        headers: dict[str, str] | None,
    ):
        self.endpoint = Endpoint(
            _core.api_base(base_url, api_prefix), retry or RetryPolicy(), dict(headers or {})
        )
        self.tokens = as_provider(token)
        self.timeout = _timeout(timeout)


class Client(_Base):
    """The sender API, blocking. Use as a context manager, or call `close()`.

    `base_url`: the service's root (`https://platform.altinn.no`, `http://localhost:8080`); `token`: a token,
    a `TokenProvider` (e.g. `MaskinportenToken`) or a function returning one. `http`: your own `httpx.Client`
    (proxies, certificates); its timeout is replaced by `timeout` for each request.
    """

    def __init__(
        self,
        base_url: str,
        token: TokenInput,
        *,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        api_prefix: str = API_PREFIX,
        headers: dict[str, str] | None = None,
        http: httpx.Client | None = None,
    ):
        super().__init__(
            base_url, token, timeout=timeout, retry=retry, api_prefix=api_prefix, headers=headers
        )
        self._http = http or httpx.Client(timeout=self.timeout)
        self._owns_http = http is None

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def _run(self, call: Call[T]) -> T:
        steps = _core.plan(self.endpoint, call)
        result: Any = None
        try:
            while True:
                step = steps.send(result)
                if isinstance(step, NeedToken):
                    if step.renew:
                        self.tokens.invalidate()
                    result = self.tokens.get_token()
                elif isinstance(step, Send):
                    step.request.extensions["timeout"] = self.timeout.as_dict()
                    try:
                        result = self._http.send(step.request)
                    except httpx.TransportError as exc:
                        result = exc
                elif isinstance(step, Sleep):
                    time.sleep(step.seconds)
                    result = None
        except StopIteration as done:
            value: T = done.value
            return value

    # --- v1 orders ---

    def create_email_order(self, request: EmailNotificationOrderRequest) -> NotificationOrderRequestResponse:
        return self._run(_core.create_email_order(request))

    def create_sms_order(self, request: SmsNotificationOrderRequest) -> NotificationOrderRequestResponse:
        return self._run(_core.create_sms_order(request))

    def create_order(self, request: NotificationOrderRequest) -> NotificationOrderRequestResponse:
        return self._run(_core.create_order(request))

    def get_order(self, order_id: UUID | str) -> NotificationOrder:
        return self._run(_core.get_order(order_id))

    def list_orders(self, senders_reference: str) -> NotificationOrderList:
        return self._run(_core.list_orders(senders_reference))

    def get_order_status(self, order_id: UUID | str) -> NotificationOrderWithStatus:
        return self._run(_core.get_order_status(order_id))

    def cancel_order(self, order_id: UUID | str) -> NotificationOrderWithStatus:
        return self._run(_core.cancel_order(order_id))

    def get_email_notifications(self, order_id: UUID | str) -> EmailNotificationSummary:
        return self._run(_core.get_email_notifications(order_id))

    def get_sms_notifications(self, order_id: UUID | str) -> SmsNotificationSummary:
        return self._run(_core.get_sms_notifications(order_id))

    # --- v2 ---

    def create_order_chain(self, request: NotificationOrderChainRequest) -> NotificationOrderChainResponse:
        return self._run(_core.create_order_chain(request))

    def create_composed_email(self, request: ComposedEmailRequest) -> NotificationOrderChainResponse:
        return self._run(_core.create_composed_email(request))

    def send_instant_sms(self, request: InstantSmsNotificationOrderRequest) -> NotificationOrderChainResponse:
        return self._run(_core.send_instant_sms(request))

    def send_instant_email(
        self, request: InstantEmailNotificationOrderRequest
    ) -> NotificationOrderChainResponse:
        return self._run(_core.send_instant_email(request))

    def get_order_chain(self, chain_id: UUID | str) -> NotificationOrderChainResponse:
        return self._run(_core.get_order_chain(chain_id))

    def get_shipment(self, shipment_id: UUID | str) -> NotificationDeliveryManifest:
        return self._run(_core.get_shipment(shipment_id))

    def get_status_feed(
        self, seq: int = 0, *, page_size: int | None = None, order_by: OrderBy | None = None
    ) -> list[StatusFeedEntry]:
        return self._run(_core.get_status_feed(seq, page_size, order_by))

    # --- helpers ---

    def iter_status_feed(self, seq: int = 0, *, page_size: int | None = None) -> Iterator[FeedItem]:
        """Every feed entry after `seq`, oldest first, page by page, until the feed has no more; each with
        the `next_seq` to store (store it after handling the entry, and resume from it later)."""
        while True:
            page = self.get_status_feed(seq, page_size=page_size)
            if not page:
                return
            for entry in page:
                seq = entry.sequence_number
                yield FeedItem(entry, seq)

    def wait_for_order(
        self,
        order_id: UUID | str,
        *,
        timeout: float = 300.0,
        interval: float = 2.0,
        on_progress: Callable[[NotificationOrderWithStatus], None] | None = None,
    ) -> NotificationOrderWithStatus:
        """Poll a v1 order's status until it is final (Completed, SendConditionNotMet, Cancelled)."""
        return _poll_until_final(
            lambda: self.get_order_status(order_id), "order", timeout, interval, on_progress
        )

    def wait_for_shipment(
        self,
        shipment_id: UUID | str,
        *,
        timeout: float = 300.0,
        interval: float = 2.0,
        on_progress: Callable[[NotificationDeliveryManifest], None] | None = None,
    ) -> NotificationDeliveryManifest:
        """Poll a shipment until it is final (Order_Completed, Order_SendConditionNotMet, Order_Cancelled)."""
        return _poll_until_final(
            lambda: self.get_shipment(shipment_id), "shipment", timeout, interval, on_progress
        )


class AsyncClient(_Base):
    """The sender API for asyncio: the same methods as `Client`, awaited. Use `async with`, or `aclose()`."""

    def __init__(
        self,
        base_url: str,
        token: TokenInput,
        *,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        api_prefix: str = API_PREFIX,
        headers: dict[str, str] | None = None,
        http: httpx.AsyncClient | None = None,
    ):
        super().__init__(
            base_url, token, timeout=timeout, retry=retry, api_prefix=api_prefix, headers=headers
        )
        self._http = http or httpx.AsyncClient(timeout=self.timeout)
        self._owns_http = http is None

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def _run(self, call: Call[T]) -> T:
        steps = _core.plan(self.endpoint, call)
        result: Any = None
        try:
            while True:
                step = steps.send(result)
                if isinstance(step, NeedToken):
                    if step.renew:
                        self.tokens.invalidate()
                    result = await self.tokens.aget_token()
                elif isinstance(step, Send):
                    step.request.extensions["timeout"] = self.timeout.as_dict()
                    try:
                        result = await self._http.send(step.request)
                    except httpx.TransportError as exc:
                        result = exc
                elif isinstance(step, Sleep):
                    await asyncio.sleep(step.seconds)
                    result = None
        except StopIteration as done:
            value: T = done.value
            return value

    # --- v1 orders ---

    async def create_email_order(
        self, request: EmailNotificationOrderRequest
    ) -> NotificationOrderRequestResponse:
        return await self._run(_core.create_email_order(request))

    async def create_sms_order(
        self, request: SmsNotificationOrderRequest
    ) -> NotificationOrderRequestResponse:
        return await self._run(_core.create_sms_order(request))

    async def create_order(self, request: NotificationOrderRequest) -> NotificationOrderRequestResponse:
        return await self._run(_core.create_order(request))

    async def get_order(self, order_id: UUID | str) -> NotificationOrder:
        return await self._run(_core.get_order(order_id))

    async def list_orders(self, senders_reference: str) -> NotificationOrderList:
        return await self._run(_core.list_orders(senders_reference))

    async def get_order_status(self, order_id: UUID | str) -> NotificationOrderWithStatus:
        return await self._run(_core.get_order_status(order_id))

    async def cancel_order(self, order_id: UUID | str) -> NotificationOrderWithStatus:
        return await self._run(_core.cancel_order(order_id))

    async def get_email_notifications(self, order_id: UUID | str) -> EmailNotificationSummary:
        return await self._run(_core.get_email_notifications(order_id))

    async def get_sms_notifications(self, order_id: UUID | str) -> SmsNotificationSummary:
        return await self._run(_core.get_sms_notifications(order_id))

    # --- v2 ---

    async def create_order_chain(
        self, request: NotificationOrderChainRequest
    ) -> NotificationOrderChainResponse:
        return await self._run(_core.create_order_chain(request))

    async def create_composed_email(self, request: ComposedEmailRequest) -> NotificationOrderChainResponse:
        return await self._run(_core.create_composed_email(request))

    async def send_instant_sms(
        self, request: InstantSmsNotificationOrderRequest
    ) -> NotificationOrderChainResponse:
        return await self._run(_core.send_instant_sms(request))

    async def send_instant_email(
        self, request: InstantEmailNotificationOrderRequest
    ) -> NotificationOrderChainResponse:
        return await self._run(_core.send_instant_email(request))

    async def get_order_chain(self, chain_id: UUID | str) -> NotificationOrderChainResponse:
        return await self._run(_core.get_order_chain(chain_id))

    async def get_shipment(self, shipment_id: UUID | str) -> NotificationDeliveryManifest:
        return await self._run(_core.get_shipment(shipment_id))

    async def get_status_feed(
        self, seq: int = 0, *, page_size: int | None = None, order_by: OrderBy | None = None
    ) -> list[StatusFeedEntry]:
        return await self._run(_core.get_status_feed(seq, page_size, order_by))

    # --- helpers ---

    async def iter_status_feed(
        self, seq: int = 0, *, page_size: int | None = None
    ) -> AsyncIterator[FeedItem]:
        """As `Client.iter_status_feed`: `async for entry, next_seq in client.iter_status_feed(stored):`."""
        while True:
            page = await self.get_status_feed(seq, page_size=page_size)
            if not page:
                return
            for entry in page:
                seq = entry.sequence_number
                yield FeedItem(entry, seq)

    async def wait_for_order(
        self,
        order_id: UUID | str,
        *,
        timeout: float = 300.0,  # noqa: ASYNC109 - the same surface as Client's
        interval: float = 2.0,
        on_progress: Callable[[NotificationOrderWithStatus], None] | None = None,
    ) -> NotificationOrderWithStatus:
        return await _apoll_until_final(
            lambda: self.get_order_status(order_id), "order", timeout, interval, on_progress
        )

    async def wait_for_shipment(
        self,
        shipment_id: UUID | str,
        *,
        timeout: float = 300.0,  # noqa: ASYNC109 - the same surface as Client's
        interval: float = 2.0,
        on_progress: Callable[[NotificationDeliveryManifest], None] | None = None,
    ) -> NotificationDeliveryManifest:
        return await _apoll_until_final(
            lambda: self.get_shipment(shipment_id), "shipment", timeout, interval, on_progress
        )


class _Final(Protocol):
    """What the wait helpers poll: an order status or a shipment, which knows whether it is final."""

    @property
    def is_final(self) -> bool: ...


F = TypeVar("F", bound=_Final)


def _poll_until_final(
    fetch: Callable[[], F],
    what: str,
    timeout: float,
    interval: float,
    on_progress: Callable[[F], None] | None,
) -> F:
    deadline = time.monotonic() + timeout
    while True:
        last = fetch()
        if on_progress is not None:
            on_progress(last)
        if last.is_final:
            return last
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise WaitTimeoutError(f"{what} not final within {timeout} s", last)
        time.sleep(min(interval, remaining))


async def _apoll_until_final(
    fetch: Callable[[], Awaitable[F]],
    what: str,
    timeout: float,  # noqa: ASYNC109 - the same surface as the blocking helper
    interval: float,
    on_progress: Callable[[F], None] | None,
) -> F:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        last = await fetch()
        if on_progress is not None:
            on_progress(last)
        if last.is_final:
            return last
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise WaitTimeoutError(f"{what} not final within {timeout} s", last)
        await asyncio.sleep(min(interval, remaining))

"""What `Client` and `AsyncClient` share: the calls (request building, response parsing) and the retry rules.

A call is planned as a generator that yields steps (get a token, send a request, sleep) and receives their
results; the blocking and the asyncio client only carry the steps out. So the rules (which requests may be
repeated, back-off with jitter, `Retry-After`, one retry with a fresh token after a 401) exist once.
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
import uuid
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any, Generic, NamedTuple, TypeVar
from uuid import UUID

import httpx
from pydantic import TypeAdapter
from pydantic import ValidationError as PydanticValidationError

from altinn_notifications_client._version import __version__
from altinn_notifications_client.errors import (
    ApiError,
    NotificationsError,
    RequestTimeoutError,
    TransportError,
    error_for,
)
from altinn_notifications_client.models import (
    ApiModel,
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
    ProblemDetails,
    SmsNotificationOrderRequest,
    SmsNotificationSummary,
    StatusFeedEntry,
)

log = logging.getLogger("altinn_notifications_client")

T = TypeVar("T")
API_PREFIX = "/notifications/api/v1"
USER_AGENT = f"altinn-notifications-client/{__version__}"


# --- retry rules ---


@dataclass(frozen=True)
class RetryPolicy:
    """How failed requests are repeated.

    Only requests that are safe to repeat are retried after a lost connection, a timeout or a 502/503/504:
    reads, and v2 creates (their `idempotencyId` makes a repeat return the first order). A request that
    never reached the service (connection refused) and a 429 (refused unprocessed) are retried for any
    call. Waits grow exponentially (`backoff` · 2ⁿ, at most `max_backoff`) with full jitter; a 429 or 503
    with `Retry-After` waits what the service asks, unless that is longer than `max_retry_after`, when the
    error is raised at once (with `retry_after` set). `attempts` counts the first try.
    """

    attempts: int = 4
    backoff: float = 0.5
    max_backoff: float = 8.0
    max_retry_after: float = 60.0
    statuses: frozenset[int] = frozenset({429, 502, 503, 504})

    def wait(self, attempt: int) -> float:
        return random.uniform(0, min(self.max_backoff, self.backoff * 2 ** (attempt - 1)))


NO_RETRIES = RetryPolicy(attempts=1)


def retry_after_seconds(response: httpx.Response) -> float | None:
    """`Retry-After` as seconds: delta-seconds or an HTTP date; None when absent or unreadable."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())


# --- calls ---


@dataclass(frozen=True)
class Call(Generic[T]):
    """One API operation: its request, whether it may be repeated, and how to read its answer."""

    method: str
    path: str
    parse: Callable[[httpx.Response], T]
    json: dict[str, Any] | None = None
    params: dict[str, str | int] = field(default_factory=dict)
    safe: bool = False
    ok: frozenset[int] = frozenset({200})


def _model(model: type[ApiModel]) -> Callable[[httpx.Response], Any]:
    return lambda response: model.model_validate_json(response.content)


_FEED = TypeAdapter(list[StatusFeedEntry])


def _with_idempotency(request: T) -> T:
    """A v2 create with an `idempotencyId`: the caller's, else a new one, the same for every retry."""
    assert isinstance(request, ApiModel)
    if getattr(request, "idempotency_id", None):
        return request
    copy: T = request.model_copy(update={"idempotency_id": str(uuid.uuid4())})
    return copy


def create_email_order(request: EmailNotificationOrderRequest) -> Call[NotificationOrderRequestResponse]:
    return Call(
        "POST",
        "/orders/email",
        _model(NotificationOrderRequestResponse),
        request.to_wire(),
        ok=frozenset({202}),
    )


def create_sms_order(request: SmsNotificationOrderRequest) -> Call[NotificationOrderRequestResponse]:
    return Call(
        "POST",
        "/orders/sms",
        _model(NotificationOrderRequestResponse),
        request.to_wire(),
        ok=frozenset({202}),
    )


def create_order(request: NotificationOrderRequest) -> Call[NotificationOrderRequestResponse]:
    return Call(
        "POST", "/orders", _model(NotificationOrderRequestResponse), request.to_wire(), ok=frozenset({202})
    )


def get_order(order_id: UUID | str) -> Call[NotificationOrder]:
    return Call("GET", f"/orders/{_id(order_id)}", _model(NotificationOrder), safe=True)


def list_orders(senders_reference: str) -> Call[NotificationOrderList]:
    return Call(
        "GET",
        "/orders",
        _model(NotificationOrderList),
        params={"sendersReference": senders_reference},
        safe=True,
    )


def get_order_status(order_id: UUID | str) -> Call[NotificationOrderWithStatus]:
    return Call("GET", f"/orders/{_id(order_id)}/status", _model(NotificationOrderWithStatus), safe=True)


def cancel_order(order_id: UUID | str) -> Call[NotificationOrderWithStatus]:
    # Not repeated after a lost answer: a second cancel of a cancelled order answers 409, hiding the first's success.
    return Call("PUT", f"/orders/{_id(order_id)}/cancel", _model(NotificationOrderWithStatus))


def get_email_notifications(order_id: UUID | str) -> Call[EmailNotificationSummary]:
    return Call(
        "GET", f"/orders/{_id(order_id)}/notifications/email", _model(EmailNotificationSummary), safe=True
    )


def get_sms_notifications(order_id: UUID | str) -> Call[SmsNotificationSummary]:
    return Call(
        "GET", f"/orders/{_id(order_id)}/notifications/sms", _model(SmsNotificationSummary), safe=True
    )


_CREATED = frozenset({200, 201})  # 201 created, 200 the original receipt of a repeated idempotencyId


def create_order_chain(request: NotificationOrderChainRequest) -> Call[NotificationOrderChainResponse]:
    body = _with_idempotency(request).to_wire()
    return Call(
        "POST", "/future/orders", _model(NotificationOrderChainResponse), body, safe=True, ok=_CREATED
    )


def create_composed_email(request: ComposedEmailRequest) -> Call[NotificationOrderChainResponse]:
    body = _with_idempotency(request).to_wire()
    return Call(
        "POST",
        "/future/orders/composed-email",
        _model(NotificationOrderChainResponse),
        body,
        safe=True,
        ok=_CREATED,
    )


def send_instant_sms(request: InstantSmsNotificationOrderRequest) -> Call[NotificationOrderChainResponse]:
    body = _with_idempotency(request).to_wire()
    return Call(
        "POST",
        "/future/orders/instant/sms",
        _model(NotificationOrderChainResponse),
        body,
        safe=True,
        ok=_CREATED,
    )


def send_instant_email(request: InstantEmailNotificationOrderRequest) -> Call[NotificationOrderChainResponse]:
    body = _with_idempotency(request).to_wire()
    return Call(
        "POST",
        "/future/orders/instant/email",
        _model(NotificationOrderChainResponse),
        body,
        safe=True,
        ok=_CREATED,
    )


def get_order_chain(chain_id: UUID | str) -> Call[NotificationOrderChainResponse]:
    return Call("GET", f"/orders/chain/{_id(chain_id)}", _model(NotificationOrderChainResponse), safe=True)


def get_shipment(shipment_id: UUID | str) -> Call[NotificationDeliveryManifest]:
    return Call(
        "GET", f"/future/shipment/{_id(shipment_id)}", _model(NotificationDeliveryManifest), safe=True
    )


def get_status_feed(
    seq: int = 0, page_size: int | None = None, order_by: OrderBy | None = None
) -> Call[list[StatusFeedEntry]]:
    params: dict[str, str | int] = {"seq": seq}
    if page_size is not None:
        params["pageSize"] = page_size
    if order_by is not None:
        params["orderBy"] = order_by.value
    return Call(
        "GET", "/future/shipment/feed", lambda r: _FEED.validate_json(r.content), params=params, safe=True
    )


def _id(value: UUID | str) -> str:
    """An id for a path: a UUID, checked here so that no stray text ends up in the URL."""
    return str(value if isinstance(value, UUID) else UUID(str(value)))


class FeedItem(NamedTuple):
    """A feed entry and the sequence number to store to resume after it."""

    entry: StatusFeedEntry
    next_seq: int


# --- the plan of one call ---


@dataclass(frozen=True)
class NeedToken:
    renew: bool  # the last token was refused: drop any cached one first


@dataclass(frozen=True)
class Send:
    request: httpx.Request


@dataclass(frozen=True)
class Sleep:
    seconds: float


Step = NeedToken | Send | Sleep
Plan = Generator[Step, Any, T]

_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


@dataclass(frozen=True)
class Endpoint:
    base_url: str
    policy: RetryPolicy
    extra_headers: dict[str, str] = field(default_factory=dict)

    def request(self, call: Call[Any], token: str) -> httpx.Request:
        headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
            **self.extra_headers,
        }
        return httpx.Request(
            call.method,
            self.base_url + call.path,
            params=call.params or None,
            json=call.json,
            headers=headers,
        )


def api_base(base_url: str, prefix: str = API_PREFIX) -> str:
    """The API's root: `base_url` (e.g. `https://platform.altinn.no`) with the API prefix, unless it has it."""
    root = base_url.rstrip("/")
    return root if root.endswith(prefix) else root + prefix


def problem_of(response: httpx.Response) -> ProblemDetails | None:
    if not response.content or "json" not in response.headers.get("content-type", ""):
        return None
    try:
        return ProblemDetails.model_validate_json(response.content)
    except PydanticValidationError:
        return None


def _transport_error(call: Call[Any], exc: httpx.TransportError) -> TransportError:
    kind = RequestTimeoutError if isinstance(exc, httpx.TimeoutException) else TransportError
    return kind(f"{call.method} {call.path}: {type(exc).__name__}")


def plan(endpoint: Endpoint, call: Call[T]) -> Plan[T]:
    """Carry out `call`: the steps to take, retries included; returns the parsed answer or raises."""
    policy = endpoint.policy
    renewed = False
    token: str = yield NeedToken(renew=False)
    attempt = 0
    while True:
        attempt += 1
        outcome = yield Send(endpoint.request(call, token))
        last = attempt >= policy.attempts
        if isinstance(outcome, httpx.TransportError):
            repeatable = call.safe or isinstance(outcome, _NOT_SENT)
            if last or not repeatable:
                raise _transport_error(call, outcome) from outcome
            delay = policy.wait(attempt)
            log.info(
                "retrying %s %s after %s in %.2f s", call.method, call.path, type(outcome).__name__, delay
            )
            yield Sleep(delay)
            continue
        response: httpx.Response = outcome
        log.debug("%s %s -> %s (attempt %d)", call.method, call.path, response.status_code, attempt)
        if response.status_code in call.ok:
            try:
                return call.parse(response)
            except PydanticValidationError as exc:
                raise NotificationsError(
                    f"{call.method} {call.path}: unexpected answer ({exc.error_count()} errors)"
                ) from None
        if response.status_code == 401 and not renewed:
            renewed = True  # a cached token may have been revoked or rotated: one more try with a new one
            token = yield NeedToken(renew=True)
            continue
        retry_after = retry_after_seconds(response)
        error = error_for(response.status_code, problem_of(response), retry_after)
        repeatable = call.safe or response.status_code == 429
        if last or not repeatable or response.status_code not in policy.statuses:
            raise error
        if retry_after is not None and retry_after > policy.max_retry_after:
            raise error
        delay = retry_after if retry_after is not None else policy.wait(attempt)
        log.info(
            "retrying %s %s after HTTP %s in %.2f s", call.method, call.path, response.status_code, delay
        )
        yield Sleep(delay)


__all__ = ["ApiError", "Call", "Endpoint", "FeedItem", "RetryPolicy", "api_base", "plan"]

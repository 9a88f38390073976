"""v2 order flows: each request's unit of work.

Network calls (the registration-time contact lookup, the instant hand-off) run outside any transaction;
the writes after them are short. `ensure_connected` raises 499 `NOT-00002` when the client has gone: it is
checked inside the storing transaction (or, for a chain without reminders, which is one statement, just
before it), so nothing is kept for a caller who has gone before the write.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from uuid import UUID

from altinn_notifications.auth.models import Caller
from altinn_notifications.chains import composed, instant, order_chain, service
from altinn_notifications.chains.instant import InstantPlan, InstantRequest, InstantTurn
from altinn_notifications.chains.models import (
    ChainType,
    ComposedEmailRequestExt,
    NotificationOrderChainRequestExt,
    NotificationOrderChainResponseExt,
)
from altinn_notifications.chains.service import ChainPlan, StoredChain
from altinn_notifications.db.pool import Transaction
from altinn_notifications.errors import CodedProblem
from altinn_notifications.metrics import ORDERS_REGISTERED
from altinn_notifications.orders import intake
from altinn_notifications.orders.intake import IntakeDeps
from altinn_notifications.providers.base import retry_schedule_of

EnsureConnected = Callable[[], Awaitable[None]]

_INSTANT_POLL_SECONDS = 0.05  # first pause of a duplicate instant request looking for the outcome


async def place_chain(
    deps: IntakeDeps,
    request: NotificationOrderChainRequestExt,
    caller: Caller,
    ensure_connected: EnsureConnected,
) -> StoredChain:
    """A notification order to one recipient, with optional reminders."""
    plan = order_chain.build_order_chain(request, caller, deps.settings, deps.clock())
    await intake.take_allowance(deps, caller.org, len(plan.orders))
    if order_chain.needs_contact_lookup(plan):
        # A repeat is answered before the registers are asked: it must not fail on today's contact data.
        async with deps.transaction() as conn:
            receipt = await service.find_receipt(
                conn, caller.org, request.idempotency_id, ChainType.Notification
            )
        if receipt is not None:
            return StoredChain(receipt, created=False)
        await order_chain.ensure_contact_points(plan, deps.contact_points)
    return await _store(deps, plan, ensure_connected)  # a repeat is a no-op answering the original receipt


async def place_composed_email(
    deps: IntakeDeps, request: ComposedEmailRequestExt, caller: Caller, ensure_connected: EnsureConnected
) -> StoredChain:
    """A single email with SAS-referenced attachments."""
    plan = composed.build_composed_email(request, caller, deps.settings, deps.clock())
    await intake.take_allowance(deps, caller.org, len(plan.orders))
    return await _store(deps, plan, ensure_connected)  # a repeat is a no-op answering the original receipt


async def place_instant(
    deps: IntakeDeps, request: InstantRequest, caller: Caller, ensure_connected: EnsureConnected
) -> StoredChain:
    """An SMS or email handed to the provider synchronously."""
    plan = instant.build_instant_plan(request, caller, deps.settings, deps.clock())
    await intake.take_allowance(deps, caller.org, 1)
    turn = await _instant_turn(deps, plan)
    if turn.receipt is not None:
        return StoredChain(turn.receipt, created=False)
    try:
        await ensure_connected()  # before the hand-off: once sent, the outcome is always stored
        outcome = await instant.send_instant(plan, deps.email_provider, deps.sms_provider)
    except CodedProblem:  # 499 before the hand-off, or 503: the hand-off itself failed
        async with deps.connection() as conn:
            await instant.release_instant(conn, plan)
        raise
    # Cancelled mid-send (shutdown): whether the message went is unknown, so the reservation is left to
    # expire rather than inviting a second send at once.
    async with deps.transaction() as conn:
        stored = await instant.store_instant(conn, plan, outcome, retry_schedule_of(deps.email_provider))
    if stored.created:
        ORDERS_REGISTERED.labels(channel=plan.order.notification_channel.value).inc()
    return stored


async def chain_receipt(
    transaction: Transaction, chain_id: UUID, caller: Caller
) -> NotificationOrderChainResponseExt:
    """The receipt of an order chain: the target of the `Location` of every v2 create."""
    async with transaction() as conn:
        return await service.get_chain_receipt(conn, chain_id, caller)


async def _store(deps: IntakeDeps, plan: ChainPlan, ensure_connected: EnsureConnected) -> StoredChain:
    if len(plan.orders) == 1:  # one statement: the client's presence is checked just before it
        await ensure_connected()
        single = await service.store_single_order_chain(deps.statements, plan)
        if single is None:  # a repeat, or a concurrent request with the same idempotency id won
            async with deps.connection() as conn:
                single = await service.original_of(conn, plan.chain)
        stored = single
    else:
        async with deps.transaction() as conn:
            stored = await service.store_chain(conn, plan)
            if stored.created:
                await ensure_connected()
    if stored.created:
        for order in plan.orders:
            ORDERS_REGISTERED.labels(channel=order.notification_channel.value).inc()
    return stored


async def _instant_turn(deps: IntakeDeps, plan: InstantPlan) -> InstantTurn:
    """Wait while another request with the same idempotency id hands off; 503 if it never finishes."""
    deadline = time.monotonic() + instant.INSTANT_RESERVATION.total_seconds()
    pause = _INSTANT_POLL_SECONDS
    while True:
        async with deps.connection() as conn:
            turn = await instant.take_instant_turn(conn, plan)
        if turn.receipt is not None or turn.reserved:
            return turn
        if time.monotonic() > deadline:
            raise service.temporary_failure()
        await asyncio.sleep(pause)
        pause = min(pause * 1.5, 1.0)

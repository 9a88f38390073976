"""The console's units of work: each page's reads in one short transaction, each action with its audit
row in the same transaction as the change (so an action is never done without being recorded)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from altinn_notifications.auth.models import Caller
from altinn_notifications.console.models import AuditEntry, OrderDetail, OrderRow, OrderSearch, Overview
from altinn_notifications.console.repository import ConsoleRepository
from altinn_notifications.db.pool import Connection, Transaction
from altinn_notifications.errors import ConflictError, NotFoundError, RequestValidationFailed
from altinn_notifications.orders.service import cancel_order as cancel_in
from altinn_notifications.providers.outbox import Outbox
from altinn_notifications.queue.heartbeat import recent_heartbeats
from altinn_notifications.queue.operations import queue_depths
from altinn_notifications.reports.flows import list_dead, replay_dead
from altinn_notifications.reports.models import DeadReport, ReplaySummary
from altinn_notifications.support.flows import lookup_notifications
from altinn_notifications.support.models import DashboardNotificationExt, IdentifierKind

RATE_MINUTES = 10
#: Workers not heard from for this long are left off the overview.
LIVENESS_WINDOW = timedelta(minutes=15)
_REPLAY_CHUNK = 500
PASSWORD_WINDOW = timedelta(minutes=15)


async def audit(transaction: Transaction, actor: str, action: str, target: str | None, outcome: str) -> None:
    async with transaction() as conn:
        await ConsoleRepository(conn).audit(actor, action, target, outcome)


async def audit_log(transaction: Transaction, limit: int = 200) -> list[AuditEntry]:
    async with transaction() as conn:
        return await ConsoleRepository(conn).audit_log(limit)


async def password_attempts_exhausted(transaction: Transaction, allowed: int) -> bool:
    """Whether the wrong passwords of the last 15 minutes (any process, from the audit log) reached
    `allowed`: password guessing is then refused for a while, for everyone; tokens and links still work."""
    async with transaction() as conn:
        failures = await ConsoleRepository(conn).refused_password_sign_ins(PASSWORD_WINDOW)
    return failures >= allowed


async def redeem_signin_link(transaction: Transaction, nonce: str, actor: str) -> bool:
    """Mark the link used (first use only) and audit the sign-in, in one transaction."""
    async with transaction() as conn:
        repo = ConsoleRepository(conn)
        first = await repo.use_signin_link(nonce)
        await repo.audit(actor, "sign-in", "one-time link", "ok" if first else "refused: link already used")
    return first


async def overview(transaction: Transaction, configuration: dict[str, str]) -> Overview:
    async with transaction() as conn:
        repo = ConsoleRepository(conn)
        result = Overview(
            orders=await repo.order_counts(),
            notifications=await repo.notification_counts(),
            rates=await repo.results_per_minute(RATE_MINUTES),
            paused=await repo.paused_channels(),
            dead_reports=await repo.dead_report_count(),
            configuration=configuration,
        )
    result.queues = await queue_depths(transaction)
    result.workers = await recent_heartbeats(transaction, LIVENESS_WINDOW)
    return result


async def search_orders(transaction: Transaction, search: OrderSearch) -> list[OrderRow]:
    async with transaction() as conn:
        return await ConsoleRepository(conn).search_orders(search)


async def _detail(conn: Connection, order_id: UUID) -> OrderDetail | None:
    repo = ConsoleRepository(conn)
    found = await repo.order(order_id)
    if found is None:
        return None
    internal_id, order, raw, chain_internal_id = found
    chain = await repo.chain(chain_internal_id) if chain_internal_id is not None else None
    return OrderDetail(
        order=order,
        channel=_channel_of(raw),
        texts=await repo.texts(internal_id),
        chain_id=chain[0] if chain else None,
        idempotency_id=chain[1] if chain else None,
        chain_orders=chain[2] if chain else [],
        notifications=await repo.notifications(internal_id),
        completed_at=await repo.completed_at(internal_id),
        raw=raw,
    )


def _channel_of(raw: dict[str, Any]) -> str | None:
    value = raw.get("notificationChannel")
    return str(value) if value else None


async def order_detail(transaction: Transaction, order_id: UUID) -> OrderDetail | None:
    async with transaction() as conn:
        return await _detail(conn, order_id)


async def cancel(transaction: Transaction, order_id: UUID, actor: str, now: datetime) -> str:
    """Cancel through the API's rule (docs/compatibility.md C4) on behalf of the order's creator; audited.
    Answers `cancelled`, `prohibited` (too late) or `not_found`."""
    async with transaction() as conn:
        repo = ConsoleRepository(conn)
        found = await repo.order(order_id)
        outcome = "not_found"
        if found is not None:
            try:
                await cancel_in(conn, order_id, Caller(org=found[1].creator, scopes=frozenset()), now)
                outcome = "cancelled"
            except ConflictError:
                outcome = "prohibited"
            except NotFoundError:
                outcome = "not_found"
        await repo.audit(actor, "cancel", f"order {order_id}", outcome)
    return outcome


async def reveal(transaction: Transaction, notification_id: UUID, actor: str) -> tuple[str, str] | None:
    """One notification's address in clear, for the person who asked; the audit row names the
    notification, never the address."""
    async with transaction() as conn:
        repo = ConsoleRepository(conn)
        found = await repo.notification_address(notification_id)
        await repo.audit(actor, "reveal", f"notification {notification_id}", "ok" if found else "not_found")
    return found


@dataclass(frozen=True)
class Lookup:
    """A support lookup as typed into the console; `reveal` names the attempt to show in clear
    (`<shipment id>:<index>`)."""

    kind: IdentifierKind
    identifier: str
    start: datetime | None
    end: datetime | None
    reveal: str | None = None


async def recipient_lookup(
    transaction: Transaction,
    lookup: Lookup,
    actor: str,
    fingerprint: Callable[[str], str],
    now: datetime,
) -> tuple[list[DashboardNotificationExt], list[str] | None]:
    """The support lookup of the API (same rules and messages), audited with a fingerprint of the
    identifier: (orders, None), or ([], the validation messages)."""
    target = f"{lookup.kind.value} #{fingerprint(lookup.identifier)}"
    try:
        found = await lookup_notifications(
            transaction, lookup.kind, lookup.identifier, lookup.start, lookup.end, now=now
        )
    except RequestValidationFailed as exc:
        errors = [m for messages in exc.errors.values() for m in messages]
        await audit(transaction, actor, "lookup", target, "refused: " + "; ".join(errors))
        return [], errors
    action, what = ("reveal", f"{target}, {lookup.reveal}") if lookup.reveal else ("lookup", target)
    await audit(transaction, actor, action, what, f"{len(found)} orders")
    return found, None


async def dead_reports(transaction: Transaction, limit: int = 200) -> list[DeadReport]:
    return await list_dead(transaction, limit)


async def replay(transaction: Transaction, ids: Sequence[int] | None, actor: str) -> ReplaySummary:
    """Replay the given dead reports, or all unresolved ones (`ids` None), in chunks; audited."""
    wanted = list(ids) if ids is not None else sorted(r.id for r in await list_dead(transaction, 10_000_000))
    total = ReplaySummary()
    for start in range(0, len(wanted), _REPLAY_CHUNK):
        chunk = wanted[start : start + _REPLAY_CHUNK]
        total.outcomes.extend((await replay_dead(transaction, chunk, len(chunk))).outcomes)
    target = "all dead reports" if ids is None else "reports " + ", ".join(str(i) for i in wanted)
    await audit(
        transaction, actor, "replay", target, f"replayed {len(total.outcomes)}, resolved {total.resolved}"
    )
    return total


async def outbox_entries(outbox: Outbox | None, limit: int) -> list[dict[str, Any]]:
    """The newest `limit` outbox entries, newest first (the file is read in a thread)."""
    if outbox is None or not outbox.enabled:
        return []
    entries = await asyncio.to_thread(outbox.read, limit)
    entries.reverse()
    return entries

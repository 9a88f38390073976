"""v2 ("future") orders: what every v2 create shares. The coded problems, the validated plan, storing it
idempotently, and the receipt reads.

Services never commit: `chains.flows` owns the transaction. The request kinds build their plans in
`chains.order_chain`, `chains.composed` and `chains.instant`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from altinn_notifications.auth.models import Caller
from altinn_notifications.chains.models import (
    ChainDialogportenAssociation,
    ChainRequestModel,
    ChainType,
    DialogportenIdentifiersExt,
    NotificationOrderChainResponseExt,
    OrderChain,
)
from altinn_notifications.chains.repository import ChainRepository
from altinn_notifications.db.batching import StatementBatcher
from altinn_notifications.db.pool import Connection
from altinn_notifications.errors import CodedProblem, NotFoundError
from altinn_notifications.orders.models import NotificationOrder
from altinn_notifications.orders.repository import OrderRepository

# docs/compatibility.md C3 coded problems of the v2 endpoints.
MISSING_CONTACT = (422, "NOT-00001", "Missing contact information for recipient(s)")
CLIENT_DISCONNECTED = (
    499,
    "NOT-00002",
    "The client disconnected or cancelled the request before the server could complete processing",
)
TEMPORARY_FAILURE = (503, "NOT-00004", "A temporary network failure occurred")


def missing_contact() -> CodedProblem:
    return CodedProblem(*MISSING_CONTACT)


def client_disconnected() -> CodedProblem:
    return CodedProblem(*CLIENT_DISCONNECTED)


def temporary_failure() -> CodedProblem:
    return CodedProblem(*TEMPORARY_FAILURE)


@dataclass(frozen=True)
class ChainPlan:
    """A validated v2 request, ready to store: the chain row and its orders (main first, then reminders)."""

    chain: OrderChain
    orders: list[NotificationOrder]
    created: datetime


@dataclass(frozen=True)
class StoredChain:
    """The receipt to answer with; `created` is False when a concurrent duplicate was stored first."""

    receipt: NotificationOrderChainResponseExt
    created: bool


# --- reads ---


async def find_receipt(
    conn: Connection, creator: str, idempotency_id: str, chain_type: ChainType
) -> NotificationOrderChainResponseExt | None:
    """The original receipt of a repeated `idempotencyId` (same creator, same order type), if any."""
    chain = await ChainRepository(conn).find_by_idempotency_id(creator, idempotency_id, chain_type)
    return chain.receipt() if chain else None


async def get_chain_receipt(
    conn: Connection, chain_id: UUID, caller: Caller
) -> NotificationOrderChainResponseExt:
    """`GET /orders/chain/{id}`: the receipt of one of the caller's chains; another org's id is 404."""
    chain = await ChainRepository(conn).get(chain_id, caller.org)
    if chain is None:
        raise NotFoundError()
    return chain.receipt()


# --- writes ---


async def store_single_order_chain(statements: StatementBatcher, plan: ChainPlan) -> StoredChain | None:
    """A chain of one order (no reminders): one statement, atomic by itself, sent together with other
    requests' (`db.batching`); None when the idempotency id was taken (nothing was written)."""
    if not await ChainRepository.insert_with_order(statements, plan.chain, plan.created, plan.orders[0]):
        return None
    return StoredChain(plan.chain.receipt(), created=True)


async def store_chain(conn: Connection, plan: ChainPlan) -> StoredChain:
    """Insert the chain row, its orders (`Registered`) and their texts, in the caller's transaction.

    A concurrent request with the same idempotency id that got there first makes this a no-op answering
    with the original receipt (see `chains.repository`).
    """
    repo = ChainRepository(conn)
    chain_id = await repo.insert(plan.chain, plan.created)
    if chain_id is None:
        return await stored_original(repo, plan.chain)
    orders = OrderRepository(conn)
    for order in plan.orders:  # each insert wakes the workers itself when its order is due soon
        await orders.insert(order, order_chain_id=chain_id)
    return StoredChain(plan.chain.receipt(), created=True)


async def original_of(conn: Connection, chain: OrderChain) -> StoredChain:
    """The receipt of the chain that took this one's idempotency id."""
    return await stored_original(ChainRepository(conn), chain)


async def stored_original(repo: ChainRepository, chain: OrderChain) -> StoredChain:
    """The receipt of the chain that won the idempotency race (the insert did nothing)."""
    original = await repo.find_by_idempotency_id(chain.creator.short_name, chain.idempotency_id, chain.type)
    if original is None:  # the index said the key exists; READ COMMITTED makes it visible (see repository)
        raise RuntimeError("idempotency conflict without a visible original chain")
    return StoredChain(original.receipt(), created=False)


# --- the stored chain JSON ---


def dialogporten(value: DialogportenIdentifiersExt | None) -> ChainDialogportenAssociation | None:
    if value is None:
        return None
    return ChainDialogportenAssociation(dialog_id=value.dialog_id, transmission_id=value.transmission_id)


def stored_json(model: ChainRequestModel) -> dict[str, Any]:
    """A request part as kept in the chain JSON: PascalCase keys (the shapes' serialization aliases)."""
    stored: dict[str, Any] = model.model_dump(mode="json", by_alias=True, exclude_none=True)
    return stored

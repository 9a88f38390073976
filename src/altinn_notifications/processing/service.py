"""Preparing one due order: send condition, recipient lookup, names, generation of its notifications.

These are the domain steps; they call the condition endpoint and the registers but never the database.
The worker (`processing/worker.py`) claims orders, runs these steps outside any transaction and writes
the outcome in one short, guarded transaction, so a second worker can never process an order twice.
"""

from __future__ import annotations

import enum

import structlog

from altinn_notifications.orders.lookup import lookup_at_processing
from altinn_notifications.orders.models import NotificationOrder
from altinn_notifications.processing import rules
from altinn_notifications.processing.condition import ConditionPort
from altinn_notifications.processing.models import ClaimedOrder, GeneratedNotifications
from altinn_notifications.recipients.models import ResolvedRecipient
from altinn_notifications.recipients.offload import off_loop_if_large
from altinn_notifications.recipients.ports import ContactPointsPort, PartyNamesPort

log = structlog.get_logger(__name__)


class ConditionOutcome(enum.Enum):
    """What a send condition decided, when it did not let the order through."""

    NOT_MET = "not_met"  # the order ends `SendConditionNotMet`
    PUT_OFF = "put_off"  # inconclusive on the first attempt: asked again later


class OrderPreparer:
    def __init__(
        self,
        contact_points: ContactPointsPort,
        names: PartyNamesPort,
        condition: ConditionPort,
    ) -> None:
        self.contact_points = contact_points
        self.names = names
        self.condition = condition

    async def prepare(self, claimed: ClaimedOrder) -> GeneratedNotifications | ConditionOutcome:
        """Condition, lookup, names, generation; a `ConditionOutcome` when the condition stopped it."""
        order = self.parse(claimed)
        if order.condition_endpoint:
            stopped = await self.check_condition(claimed, order.condition_endpoint)
            if stopped is not None:
                return stopped
        return await self.generate_for(order)

    @staticmethod
    def parse(claimed: ClaimedOrder) -> NotificationOrder:
        return NotificationOrder.model_validate(claimed.order_json)

    async def generate_for(self, order: NotificationOrder) -> GeneratedNotifications:
        """Lookup, names, generation: the steps after the send condition let the order through."""
        # Whether stale KRR data may be used was decided at v2 intake (docs/compatibility.md C6, C11); a v1
        # order never may.
        recipients = await lookup_at_processing(
            self.contact_points, order, use_stale_contact_info=order.use_stale_contact_information
        )
        names = await self._names(order, recipients)
        addresses = sum(len(r.emails) + len(r.mobile_numbers) for r in recipients)
        return await off_loop_if_large(addresses, generate, order, recipients, names)

    async def check_condition(self, claimed: ClaimedOrder, endpoint: str) -> ConditionOutcome | None:
        """Ask the endpoint; None: send (see `condition_outcome`)."""
        return condition_outcome(claimed, await self.condition.check(endpoint))

    async def _names(self, order: NotificationOrder, recipients: list[ResolvedRecipient]) -> dict[str, str]:
        if not rules.needs_names(order):
            return {}
        orgs = sorted({r.organization_number for r in recipients if r.organization_number})
        nins = sorted({r.national_identity_number for r in recipients if r.national_identity_number})
        if not orgs and not nins:
            return {}
        return await self.names.party_names(orgs, nins)


def condition_outcome(claimed: ClaimedOrder, decision: bool | None) -> ConditionOutcome | None:
    """None: send. An inconclusive answer (None) puts the order off once, then lets it through (the
    reference's rule: ask once more, then send)."""
    if decision is True:
        return None
    if decision is None:
        if claimed.attempts <= 1:
            return ConditionOutcome.PUT_OFF
        log.info("send condition inconclusive again; processing the order regardless")
        return None
    return ConditionOutcome.NOT_MET


def generate(
    order: NotificationOrder, recipients: list[ResolvedRecipient], names: dict[str, str]
) -> GeneratedNotifications:
    email_recipients, sms_recipients = rules.split_by_channel(order.notification_channel, recipients)
    return GeneratedNotifications(
        emails=list(rules.email_notifications(order, email_recipients, names)) if email_recipients else [],
        sms=list(rules.sms_notifications(order, sms_recipients, names)) if sms_recipients else [],
    )

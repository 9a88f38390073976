"""The lookup flow as the console calls it: typed inputs in, orders out, the same rules as the API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from altinn_notifications.bootstrap import Container
from altinn_notifications.errors import RequestValidationFailed
from altinn_notifications.support import flows, service
from altinn_notifications.support.models import IdentifierKind
from tests.support.seeding import Sent, seed_order

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


async def test_lookup_with_typed_inputs_and_a_given_clock(container: Container) -> None:
    inside = await seed_order(
        container, [Sent("sms", "+4798765432", nin="16069412345")], send_time=NOW - timedelta(days=20)
    )
    await seed_order(
        container, [Sent("sms", "+4798765432", nin="16069412345")], send_time=NOW - timedelta(days=40)
    )
    found = await flows.lookup_notifications(
        container.transaction,
        IdentifierKind.nin,
        "16069412345",
        NOW - timedelta(days=30),
        NOW,
        now=NOW,
    )
    assert [o.shipment_id for o in found] == [inside]
    assert [a.mobile_number for a in found[0].delivery_attempts] == ["+4798765432"]
    # Defaults: the last 7 days before `now`.
    assert (
        await flows.lookup_notifications(container.transaction, IdentifierKind.nin, "16069412345", now=NOW)
        == []
    )


async def test_the_flow_raises_the_validation_messages(container: Container) -> None:
    with pytest.raises(RequestValidationFailed) as raised:
        await flows.lookup_notifications(
            container.transaction, IdentifierKind.orgnumber, "", NOW + timedelta(days=1), now=NOW
        )
    assert raised.value.errors == {
        "From": [service.FROM_NOT_BEFORE_TO, service.FROM_IN_FUTURE],
        "OrganizationNumber": ["'OrganizationNumber' is required and cannot be empty"],
    }


def test_ten_years_back_from_a_leap_day() -> None:
    assert service.years_before(datetime(2028, 2, 29, tzinfo=UTC), 10) == datetime(2018, 2, 28, tzinfo=UTC)

"""A chain through the real workers: the main order and its reminder are processed at their own times,
each with its own send condition, and each produces its own notifications (docs/compatibility.md C6, C10)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import pytest

from altinn_notifications.bootstrap import Container
from altinn_notifications.processing.worker import ProcessingConfig
from tests.api.helpers import V1
from tests.chains.conftest import fetch
from tests.conftest import ContainerFactory
from tests.pipeline.conftest import RunWorkers, eventually

MAIN_CONDITION = "https://sender.example.no/tasks/1/notify"
REMINDER_CONDITION = "https://sender.example.no/tasks/1/remind"
REMINDER_DELAY = timedelta(seconds=2)

# No look-ahead: an order is claimed when it is due, not up to a minute before (the default).
ON_TIME = ProcessingConfig(
    lookahead=timedelta(0),
    condition_retry_delay=timedelta(seconds=0.5),
    retry_base_delay=timedelta(seconds=0.5),
)


@dataclass
class RecordingCondition:
    """A send-condition port that always says "send", remembering which endpoint was asked when."""

    calls: list[tuple[str, datetime]] = field(default_factory=list)

    async def check(self, endpoint: str) -> bool | None:
        self.calls.append((endpoint, datetime.now(UTC)))
        return True


@pytest.fixture
def condition() -> RecordingCondition:
    return RecordingCondition()


@pytest.fixture
def container(make_container: ContainerFactory, condition: RecordingCondition) -> Container:
    """The workers ask the recording send-condition port."""
    return make_container(condition=condition)


async def _status(container: Container, order_id: str) -> str:
    (row,) = await fetch(
        container, "SELECT processedstatus::text AS status FROM orders WHERE alternateid = $1", UUID(order_id)
    )
    status: str = row["status"]
    return status


async def test_main_order_and_reminder_complete_at_their_own_times(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    container: Container,
    run_workers: RunWorkers,
    condition: RecordingCondition,
) -> None:
    reminder_time = datetime.now(UTC) + REMINDER_DELAY
    body: dict[str, Any] = {
        "idempotencyId": "e2e-1",
        "conditionEndpoint": MAIN_CONDITION,
        "recipient": {
            "recipientEmail": {
                "emailAddress": "main@example.no",
                "emailSettings": {"subject": "Task", "body": "New task"},
            }
        },
        "reminders": [
            {
                "requestedSendTime": reminder_time.isoformat(),
                "conditionEndpoint": REMINDER_CONDITION,
                "recipient": {
                    "recipientSms": {
                        "phoneNumber": "+4799999999",
                        "smsSettings": {"body": "Reminder: open task", "sendingTimePolicy": "Anytime"},
                    }
                },
            }
        ],
    }
    response = await client.post(f"{V1}/future/orders", json=body, headers=auth)
    assert response.status_code == 201, response.text
    main_id = response.json()["notification"]["shipmentId"]
    reminder_id = response.json()["notification"]["reminders"][0]["shipmentId"]

    async def completed(order_id: str) -> bool:
        return await _status(container, order_id) == "Completed"

    async with run_workers(processing=ON_TIME):
        await eventually(lambda: completed(main_id), within=10)
        await eventually(lambda: completed(reminder_id), within=15)

    # Each order asked its own endpoint once: the main one at once, the reminder's only when it was due.
    asked = {endpoint: moment for endpoint, moment in condition.calls}
    assert [endpoint for endpoint, _ in condition.calls] == [MAIN_CONDITION, REMINDER_CONDITION]
    assert asked[MAIN_CONDITION] < reminder_time <= asked[REMINDER_CONDITION]

    emails = await fetch(
        container,
        """SELECT n.toaddress, n.result::text AS result FROM emailnotifications n
           JOIN orders o ON o._id = n._orderid WHERE o.alternateid = $1""",
        UUID(main_id),
    )
    assert emails == [{"toaddress": "main@example.no", "result": "Delivered"}]
    sms = await fetch(
        container,
        """SELECT n.mobilenumber, n.result::text AS result FROM smsnotifications n
           JOIN orders o ON o._id = n._orderid WHERE o.alternateid = $1""",
        UUID(reminder_id),
    )
    assert sms == [{"mobilenumber": "+4799999999", "result": "Delivered"}]
    # Neither order got the other's notifications.
    assert len(await fetch(container, "SELECT 1 FROM emailnotifications")) == 1
    assert len(await fetch(container, "SELECT 1 FROM smsnotifications")) == 1

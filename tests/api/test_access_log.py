"""The access log: one line per request at info level with method, route template, status, duration, org
and trace id, and nothing a request may carry of a person (identifiers, addresses, query values, bodies)."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from altinn_notifications.config import SCOPE_SUPPORT
from altinn_notifications.logging import configure_logging
from tests.api.helpers import V1

NIN = "16069412345"
EMAIL = "kari.nordmann@example.no"
REFERENCE = "case-7781-secret"


@pytest.fixture
def json_log(monkeypatch: pytest.MonkeyPatch) -> Iterator[JsonLog]:
    """The service's own JSON log configuration, printing into a buffer; the tests' one restored after."""
    buffer = io.StringIO()
    monkeypatch.setattr(sys, "stderr", buffer)
    configure_logging("info", "json")
    yield JsonLog(buffer)
    monkeypatch.undo()
    configure_logging("info")


class JsonLog:
    def __init__(self, buffer: io.StringIO) -> None:
        self.buffer = buffer

    @property
    def text(self) -> str:
        return self.buffer.getvalue()

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.text.splitlines() if line.startswith("{")]


def _access(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in records if r.get("event") == "request"]


async def test_one_line_per_request_with_the_route_template(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    make_token: Callable[..., str],
    json_log: JsonLog,
) -> None:
    order = await client.post(
        f"{V1}/orders/email",
        json={
            "subject": "s",
            "body": f"Hei {NIN}",
            "sendersReference": REFERENCE,
            "recipients": [{"emailAddress": EMAIL}],
        },
        headers=auth,
    )
    assert order.status_code == 202
    order_id = order.json()["orderId"]
    await client.get(f"{V1}/orders/{order_id}", headers=auth)
    await client.get(f"{V1}/orders", params={"sendersReference": REFERENCE}, headers=auth)
    support = {"Authorization": f"Bearer {make_token(None, scopes=[SCOPE_SUPPORT])}"}
    await client.get(
        f"{V1}/future/dashboard/recipients/notifications/email",
        headers={**support, "Email": EMAIL},
        params={"from": "2026-01-01T00:00:00Z"},
    )
    await client.get(f"/no/such/{EMAIL}", params={"nin": NIN})
    await client.get(f"{V1}/orders/{order_id}", headers={"traceparent": f"00-{'ab' * 16}-{'cd' * 8}-01"})

    lines = _access(json_log.records())
    assert [(r["method"], r["route"], r["status"]) for r in lines] == [
        ("POST", f"{V1}/orders/email", 202),
        ("GET", f"{V1}/orders/{{id}}", 200),
        ("GET", f"{V1}/orders", 200),
        ("GET", f"{V1}/future/dashboard/recipients/notifications/email", 200),
        ("GET", "(no route)", 404),
        ("GET", f"{V1}/orders/{{id}}", 401),
    ]
    assert all(r["level"] == "info" and isinstance(r["ms"], float) and r["trace_id"] for r in lines)
    assert [r.get("org") for r in lines] == ["ttd", "ttd", "ttd", None, None, None]
    assert lines[-1]["trace_id"].startswith(f"00-{'ab' * 16}-")
    assert len({r["trace_id"] for r in lines}) == len(lines)


async def test_nothing_personal_reaches_the_log(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    make_token: Callable[..., str],
    json_log: JsonLog,
) -> None:
    support = {"Authorization": f"Bearer {make_token('digdir', scopes=[SCOPE_SUPPORT])}"}
    await client.get(
        f"{V1}/future/dashboard/recipients/notifications/nin",
        headers={**support, "NationalIdentityNumber": NIN},
    )
    await client.get(
        f"{V1}/future/dashboard/recipients/notifications/nin",
        headers={**support, "NationalIdentityNumber": NIN[:-1]},
    )
    await client.get(f"{V1}/orders", params={"sendersReference": REFERENCE}, headers=auth)
    await client.post(
        f"{V1}/orders",
        json={
            "notificationChannel": "Email",
            "emailTemplate": {"subject": EMAIL, "body": NIN},
            "recipients": [{"nationalIdentityNumber": NIN}],
            "sendersReference": REFERENCE,
        },
        headers=auth,
    )
    await client.get(f"{V1}/orders/{NIN}", headers=auth)  # not a GUID: the path itself carries the number
    records = json_log.records()
    assert len(_access(records)) == 5
    text = json_log.text
    for secret in (NIN, NIN[:-1], EMAIL, REFERENCE):
        assert secret not in text
    assert [r.get("org") for r in _access(records)] == ["digdir", "digdir", "ttd", "ttd", "ttd"]


@pytest.mark.parametrize(("level", "expected"), [("info", 1), ("warning", 0)])
async def test_the_console_format_and_the_level(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    level: str,
    expected: int,
) -> None:
    buffer = io.StringIO()
    monkeypatch.setattr(sys, "stderr", buffer)
    configure_logging(level, "console")
    try:
        await client.get(f"{V1}/orders", params={"sendersReference": REFERENCE}, headers=auth)
    finally:
        monkeypatch.undo()
        configure_logging("info")
    lines = [line for line in buffer.getvalue().splitlines() if "[info     ] request" in line]
    assert len(lines) == expected
    if lines:
        assert f"route={V1}/orders status=200" in lines[0] and "org=ttd" in lines[0]
        assert "method=GET" in lines[0] and "trace_id=00-" in lines[0] and REFERENCE not in lines[0]

"""Fuzzing: schemathesis against the service's own OpenAPI document, authenticated, over real PostgreSQL.

Every operation of `/swagger/v1/swagger.json` gets `FUZZ_EXAMPLES` generated requests (default 25, a
CI-friendly size; `make fuzz` runs 500), valid and invalid ones, deterministically. No response may be a
5xx, and every response must match what the document says (status code, content type, body schema).

Generated ids almost never name an existing order, so the operations on one order (`/orders/{id}...`) and
the search by `sendersReference` are also replayed against orders the fuzzer itself placed (the POST
operations run first): that is how the documented 200 bodies of real, varied orders get checked too.

The app is served through schemathesis' ASGI transport, which runs it on an event loop of its own (in a
thread), so the app builds its own container (connection pool) at start-up, against the session's
migrated test database. The document is the one the app serves (checked by the first test).
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterator
from typing import Any, cast

import hypothesis
import pytest
import schemathesis
import structlog
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.python import asgi as schemathesis_asgi

from altinn_notifications.api.app import create_app
from altinn_notifications.bootstrap import build_container
from altinn_notifications.config import Settings
from tests.conftest import TokenFactory

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
OPENAPI_PATH = "/swagger/v1/swagger.json"
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]

# The document as the app builds it (no database needed); `test_the_document_is_the_served_one` ties it
# to what `/swagger/v1/swagger.json` answers. (`schemathesis.pytest.from_fixture` would load it from the
# running app, but fails under pytest 9: it reads `request.node._nodeid`, which pytest 9 removed.)
DOCUMENT = create_app().openapi()
schema = schemathesis.openapi.from_dict(DOCUMENT)

# What accepted orders left behind, for replaying reads against real orders.
_placed_ids: list[str] = []
_placed_references: list[str] = []

V1 = "/notifications/api/v1"
# Valid recipients for the v1 order operations, by path.
_RECIPIENTS = {
    f"{V1}/orders/email": [{"emailAddress": "fuzz@example.no"}],
    f"{V1}/orders/sms": [{"mobileNumber": "+4799999999"}],
    f"{V1}/orders": [{"emailAddress": "fuzz@example.no", "mobileNumber": "+4799999999"}],
}


@pytest.fixture(scope="module")
def api(settings: Settings, database_url: str) -> Iterator[schemathesis_asgi.ASGIClient]:
    """The app on schemathesis' ASGI transport, started (lifespan) once for the module."""
    _placed_ids.clear()
    _placed_references.clear()
    # Plain-text tracebacks, as `serve` logs them: structlog's default renders every local variable of
    # every frame of a 500 (the whole app), which turns one failing example into minutes of output.
    saved_logging = structlog.get_config()
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.format_exc_info,
            structlog.dev.ConsoleRenderer(colors=False),
        ]
    )
    app = create_app(container_factory=lambda: build_container(settings, database_url))
    try:
        with schemathesis_asgi.get_client(cast(Any, app)) as client:
            yield client
    finally:
        # Run the app's shutdown (closes its pool) now rather than at interpreter exit.
        schemathesis_asgi.shutdown_lifespans()
        structlog.configure(**saved_logging)


def test_the_document_is_the_served_one(api: schemathesis_asgi.ASGIClient) -> None:
    response = api.get(OPENAPI_PATH)
    assert response.status_code == 200
    assert response.json() == DOCUMENT


def _pick(values: list[str], case: Any) -> str:
    """A deterministic choice among `values`, varying with the generated case."""
    key = repr((case.path_parameters, case.query, case.body)).encode()
    return values[zlib.crc32(key) % len(values)]


def _repaired(path: str, body: Any) -> dict[str, Any] | None:
    """The generated order body with the parts the schema cannot express made valid.

    Generated send times are mostly in the past and generated recipients have no valid address, so
    almost every generated order is (rightly) refused; this keeps everything else as generated.
    """
    if not isinstance(body, dict):
        return None
    recipients = _RECIPIENTS.get(path)
    if recipients is None:
        return None
    fixed = {**{k: v for k, v in body.items() if k != "requestedSendTime"}, "recipients": recipients}
    if path == f"{V1}/orders":  # the generic order: a channel, and the templates it needs
        if not isinstance(fixed.get("notificationChannel"), str):
            fixed["notificationChannel"] = "EmailAndSms"
        if not isinstance(fixed.get("emailTemplate"), dict):
            fixed["emailTemplate"] = {"subject": "Fuzz", "body": "Fuzz"}
        if not isinstance(fixed.get("smsTemplate"), dict):
            fixed["smsTemplate"] = {"body": "Fuzz"}
    return fixed


def _record(response: Any, body: Any) -> None:
    if response.status_code != 202:
        return
    _placed_ids.append(response.json()["orderId"])
    reference = body.get("sendersReference") if isinstance(body, dict) else None
    if isinstance(reference, str) and reference:
        _placed_references.append(reference)


@pytest.mark.slow
@schema.parametrize()
@hypothesis.settings(max_examples=FUZZ_EXAMPLES, derandomize=True, deadline=None, database=None)
def test_api_conforms_to_its_openapi_document(
    case: Any, api: schemathesis_asgi.ASGIClient, make_token: TokenFactory
) -> None:
    headers = {"Authorization": f"Bearer {make_token('ttd')}"}
    call: dict[str, Any] = {"session": api, "base_url": api.base_url, "headers": headers, "checks": CHECKS}
    response = case.call_and_validate(**call)

    # Follow-ups: the same operation with data that reaches further (valid orders, real order ids).
    operation, path = case.operation, case.operation.path
    follow_up = None
    if case.method == "POST":
        _record(response, case.body)
        repaired = _repaired(path, case.body)
        if response.status_code != 202 and repaired is not None:
            follow_up = operation.Case(body=repaired, media_type="application/json")
    elif "{id}" in path and _placed_ids:
        follow_up = operation.Case(path_parameters={"id": _pick(_placed_ids, case)})
    elif path == f"{V1}/orders" and case.method == "GET" and _placed_references:
        follow_up = operation.Case(query={"sendersReference": _pick(_placed_references, case)})
    if follow_up is not None:
        followed = follow_up.call_and_validate(**call)
        if case.method == "POST":
            _record(followed, follow_up.body)

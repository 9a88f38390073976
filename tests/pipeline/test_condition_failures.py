"""Every failure of a send-condition call is inconclusive (docs/compatibility.md C10): asked once more, then
the order is sent. Before, a URL httpx refuses (longer than it takes) or an answer too deeply nested to
parse escaped as an error, and the order was retried forever and never sent."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from altinn_notifications.bootstrap import Container
from altinn_notifications.processing.worker import ProcessingConfig
from tests.loopback import serve
from tests.pipeline.conftest import RunWorkers, eventually
from tests.pipeline.test_condition import _status_is, insert_order, order_state

DEPTH = 100_000


@pytest.fixture
async def deep_answer() -> AsyncIterator[str]:
    """An endpoint answering JSON nested deeper than any parser recurses."""
    calls = []

    async def answer(request: Request) -> Response:
        calls.append(request.url.path)
        return Response("[" * DEPTH + "]" * DEPTH, media_type="application/json")

    async with serve(Starlette(routes=[Route("/deep", answer)])) as base:
        yield f"{base}/deep"


async def _sent_after_asking_twice(container: Container, run_workers: RunWorkers, endpoint: str) -> None:
    order_id = await insert_order(container, endpoint)
    processing = ProcessingConfig(condition_retry_delay=timedelta(seconds=0.5))
    async with run_workers(processing=processing):
        await eventually(_status_is(container, order_id, "Completed"), within=15)
    state = await order_state(container, order_id)
    assert state["attempts"] == 2  # inconclusive once, put off, inconclusive again: sent
    assert state["results"] == ["Delivered"]


async def test_condition_url_longer_than_the_client_takes_is_inconclusive(
    container: Container, run_workers: RunWorkers
) -> None:
    # Stored as it was before intake refused URLs over 2,048 characters (orders of older versions).
    endpoint = "https://conditions.example.no/?q=" + "x" * 2_000_000
    await _sent_after_asking_twice(container, run_workers, endpoint)


async def test_condition_answer_too_deep_to_parse_is_inconclusive(
    container: Container, run_workers: RunWorkers, deep_answer: str
) -> None:
    await _sent_after_asking_twice(container, run_workers, deep_answer)

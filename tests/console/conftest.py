"""Fixtures of the console tests: a container with an operator password, signed-in clients."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

import httpx
import pytest
from pydantic import SecretStr

from altinn_notifications.bootstrap import Container
from tests.conftest import ContainerFactory
from tests.pipeline.conftest import run_workers  # noqa: F401  (the pipeline's fixture, shared here)

PASSWORD = "correct horse battery staple"

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')

SignIn = Callable[..., Awaitable[str]]


@pytest.fixture
def container(make_container: ContainerFactory) -> Container:
    """This module's container: the console with an operator password."""
    c = make_container()
    return make_container(settings=c.settings.model_copy(update={"console_password": SecretStr(PASSWORD)}))


def csrf_of(page: str) -> str:
    found = _CSRF.search(page)
    assert found, "the page has no form token"
    return found.group(1)


async def sign_in_with(client: httpx.AsyncClient, **fields: str) -> httpx.Response:
    """Post the sign-in form as a browser would (it first reads the form and its cookie)."""
    form = await client.get("/console/signin")
    return await client.post("/console/signin", data={"csrf": csrf_of(form.text), **fields})


@pytest.fixture
def sign_in() -> SignIn:
    """Sign `client` in with the operator password; returns the session's CSRF token."""

    async def run(client: httpx.AsyncClient, password: str = PASSWORD) -> str:
        response = await sign_in_with(client, method="password", password=password)
        assert response.status_code == 303, response.text
        page = await client.get("/console")
        assert page.status_code == 200
        return csrf_of(page.text)

    return run

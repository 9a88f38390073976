"""`altinn-notifications token --scope ...` mints a support token the service accepts for lookups only."""

from __future__ import annotations

import httpx
import jwt
from typer.testing import CliRunner

from altinn_notifications.cli import app
from altinn_notifications.config import SCOPE_SUPPORT, Settings
from tests.api.helpers import V1


def _mint(settings: Settings, *args: str) -> str:
    result = CliRunner().invoke(app, ["token", *args, "--data-dir", str(settings.data_dir)])
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


async def test_a_support_token_from_the_command_line(client: httpx.AsyncClient, settings: Settings) -> None:
    token = _mint(settings, "--scope", SCOPE_SUPPORT)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["urn:altinn:scope"] == SCOPE_SUPPORT and "urn:altinn:org" not in claims
    headers = {"Authorization": f"Bearer {token}"}
    lookup = await client.get(
        f"{V1}/future/dashboard/recipients/notifications/nin",
        headers={**headers, "NationalIdentityNumber": "16069412345"},
    )
    assert lookup.status_code == 200
    order = await client.get(f"{V1}/orders/00000000-0000-0000-0000-000000000000", headers=headers)
    assert order.status_code == 403


async def test_several_scopes_and_an_org(settings: Settings) -> None:
    token = _mint(settings, "--org", "ttd", "--scope", "a:b", "--scope", SCOPE_SUPPORT)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["urn:altinn:scope"] == f"a:b {SCOPE_SUPPORT}" and claims["urn:altinn:org"] == "ttd"


def test_neither_org_nor_scope_is_refused(settings: Settings) -> None:
    result = CliRunner().invoke(app, ["token", "--data-dir", str(settings.data_dir)])
    assert result.exit_code == 2 and "--org is required" in result.output

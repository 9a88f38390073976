"""The console in a real browser (headless Chromium driven by Playwright), over the service on loopback
with its workers running: sign in, place an order through the API, watch it complete, find it by a
support lookup, open the email in the outbox, replay a dead report.

Needs Chromium (`apt-get install chromium`) and Playwright for Python (a dev dependency); without them
the tests are skipped, except in CI (`CI=true`), where they fail. With `CONSOLE_SCREENSHOTS=docs/console`
the pages are saved there as PNG files (the README's pictures), else into the test's temporary folder.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from altinn_notifications.api.app import create_app
from altinn_notifications.bootstrap import Container
from altinn_notifications.config import SCOPE_SUPPORT
from altinn_notifications.providers.email.simulated import SimulatedEmailProvider
from altinn_notifications.providers.outbox import Outbox
from altinn_notifications.providers.sms.simulated import SimulatedSmsProvider
from altinn_notifications.recipients.registry import import_registry_document
from altinn_notifications.reports.repository import ReportRepository
from tests.conftest import TokenFactory
from tests.console.conftest import PASSWORD
from tests.loopback import serve
from tests.pipeline.conftest import RunWorkers

NIN = "16069412345"
EMAIL = "ola.nordmann@example.no"
REGISTRY = {"persons": [{"nationalIdentityNumber": NIN, "name": "Ola Nordmann", "email": EMAIL}]}
HTML_BODY = "<h1>Hei Ola</h1><p>Du har fått et <b>nytt brev</b> i innboksen.</p><script>alert(1)</script>"
TIMEOUT_MS = 20_000


def _chromium() -> str | None:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


def _unavailable() -> str | None:
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return "Playwright is not installed: pip install playwright (a dev dependency)"
    if _chromium() is None:
        return "no Chromium found: install it with `apt-get install chromium`"
    return None


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    why = _unavailable()
    if why is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"browser tests must run in CI: {why}")
        pytest.skip(f"browser tests skipped: {why}")
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=_chromium(), headless=True)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    wanted = os.environ.get("CONSOLE_SCREENSHOTS")
    folder = Path(wanted) if wanted else tmp_path / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
async def service(container: Container, tmp_path: Path) -> AsyncIterator[tuple[str, Container]]:
    """The app on loopback over a container whose simulated providers keep an outbox of this test."""
    outbox = Outbox(tmp_path)
    pipeline = dataclasses.replace(
        container,
        outbox=outbox,
        email_provider=SimulatedEmailProvider(outbox, report_delay=0.05),
        sms_provider=SimulatedSmsProvider(outbox, report_delay=0.05),
    )
    async with serve(create_app(pipeline)) as url:
        yield url, pipeline
    await pipeline.email_provider.close()
    await pipeline.sms_provider.close()


async def _place_order(url: str, token: str) -> str:
    send_at = (datetime.now(UTC) + timedelta(seconds=4)).isoformat()
    async with httpx.AsyncClient(base_url=url) as api:
        response = await api.post(
            "/notifications/api/v1/orders/email",
            headers={"Authorization": f"Bearer {token}"},
            json={
                "subject": "Nytt brev",
                "body": HTML_BODY,
                "contentType": "Html",
                "sendersReference": "browser-test",
                "requestedSendTime": send_at,
                "recipients": [{"nationalIdentityNumber": NIN}],
            },
        )
    assert response.status_code == 202, response.text
    order_id: str = response.json()["orderId"]
    return order_id


async def _dead_report_for(container: Container, order_id: str) -> int:
    """A dead delivery report naming the order's email (as if the vendor's report had come too early)."""
    async with container.transaction() as conn:
        reference = await conn.fetchval(
            "SELECT e.operationid FROM emailnotifications e JOIN orders o ON o._id = e._orderid"
            " WHERE o.alternateid = $1::uuid",
            order_id,
        )
        assert reference, "the simulated provider gives every email an operation id"
        report_id: int = await ReportRepository(conn).add_dead(
            "email",
            {"reference": reference, "result": "Delivered", "report": {}},
            attempts=6,
            first_seen=datetime.now(UTC),
            reason="RETRY_THRESHOLD_EXCEEDED",
            message="no notification with this reference after 6 attempts",
        )
    return report_id


@pytest.mark.slow
async def test_an_operator_follows_an_order_from_sign_in_to_a_replayed_report(
    browser: Any,
    service: tuple[str, Container],
    run_workers: RunWorkers,
    make_token: TokenFactory,
    screenshots: Path,
) -> None:
    url, container = service
    await import_registry_document(container.pool, REGISTRY)
    context = await browser.new_context(viewport={"width": 1280, "height": 860})
    page = await context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.on("dialog", lambda dialog: dialog.accept())

    # 1. The newcomer's one-click sign-in: the link `serve` prints.
    await page.goto(url + container.console_signer.signin_link(""))
    await page.wait_for_url(f"{url}/console")
    assert await page.locator("h1").inner_text() == "Overview"
    assert "operator (link)" in await page.locator("header").inner_text()

    async with run_workers(container=container):
        # 2. An order through the API, due in a few seconds; its page follows it to the end by itself.
        order_id = await _place_order(url, make_token("ttd"))
        await page.goto(f"{url}/console/orders?reference=browser-test")
        await page.click(f"a[href='/console/orders/{order_id}']")
        status = page.locator("#order-status")
        assert await status.inner_text() in ("Registered", "Processing", "Processed")
        await page.locator("#order-status", has_text="Completed").wait_for()
        notifications = await page.locator("#notifications").inner_text()
        assert "Delivered" in notifications and "ol***@example.no" in notifications
        assert EMAIL not in await page.content()
        await page.screenshot(path=screenshots / "order.png", full_page=True)

        # 3. Support finds it by the person's national identity number, and reveals the address.
        await page.click("nav >> text=Recipients")
        await page.select_option("select[name=kind]", "nin")
        await page.fill("input[name=identifier]", NIN)
        await page.click("#lookup button[type=submit]")
        await page.locator("#found-count", has_text="1 order(s) found.").wait_for()
        result = page.locator("section.shipment")
        assert order_id in await result.inner_text()
        assert "ol***@example.no" in await result.inner_text()
        await page.screenshot(path=screenshots / "recipients.png", full_page=True)
        await result.locator("button", has_text="reveal").click()
        await page.locator(".revealed", has_text=EMAIL).wait_for()

        # 4. The email in the outbox, rendered (sanitised, in a sandboxed frame).
        await page.click("nav >> text=Outbox")
        await page.fill("input[name=recipient]", EMAIL)
        await page.click("text=Filter")
        await page.locator("#outbox a", has_text="Nytt brev").first.click()
        await page.locator("td.subject", has_text="Nytt brev").wait_for()
        frame = page.frame_locator("iframe.mail")
        assert await frame.locator("b").inner_text() == "nytt brev"
        assert await frame.locator("script").count() == 0
        await page.screenshot(path=screenshots / "outbox-email.png", full_page=True)

        # 5. A dead delivery report for that email, replayed from the console.
        report_id = await _dead_report_for(container, order_id)
        await page.click("nav >> text=Delivery reports")
        row = page.locator("#reports tr", has_text="RETRY_THRESHOLD_EXCEEDED")
        assert str(report_id) in await row.inner_text()
        await page.screenshot(path=screenshots / "reports.png", full_page=True)
        await row.locator("button", has_text="Replay").click()
        await page.locator("#replay-summary", has_text="Replayed 1, resolved 1.").wait_for()
        assert await page.locator("#reports tr", has_text="RETRY_THRESHOLD_EXCEEDED").count() == 0

        await page.click("nav >> text=Overview")
        await page.locator("#overview td", has_text="orders").first.wait_for()
        await page.screenshot(path=screenshots / "overview.png", full_page=True)

    await page.click("nav >> text=Audit log")
    audit = await page.locator("table.list").inner_text()
    for action in ("sign-in", "lookup", "reveal", "outbox-filter", "replay"):
        assert action in audit
    assert NIN not in audit and EMAIL not in audit
    await page.click("nav >> text=Orders")
    await page.screenshot(path=screenshots / "orders.png", full_page=True)

    # Identifiers were typed into forms only: none of them is in any address the browser asked for.
    assert requested and not [u for u in requested if NIN in u or EMAIL in u or "ola.nordmann" in u]
    await context.close()


@pytest.mark.slow
async def test_password_and_token_sign_in_on_a_phone_sized_screen(
    browser: Any, service: tuple[str, Container], make_token: TokenFactory, screenshots: Path
) -> None:
    url, _ = service
    phone = await browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = await phone.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    await page.goto(f"{url}/")
    await page.wait_for_url(f"{url}/console/signin")
    await page.screenshot(path=screenshots / "signin.png", full_page=True)
    await page.fill("input[name=password]", "wrong")
    await page.click("text=Sign in with the password")
    assert "wrong password" in await page.locator(".error").inner_text()
    await page.fill("input[name=password]", PASSWORD)
    await page.click("text=Sign in with the password")
    await page.wait_for_url(f"{url}/console")
    await page.screenshot(path=screenshots / "overview-phone.png", full_page=True)
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390  # nothing sticks out sideways on a phone
    await page.click("text=Sign out")
    await page.wait_for_url(f"{url}/console/signin")

    await page.fill("textarea[name=token]", make_token("ttd"))  # the creator scope is not enough
    await page.click("text=Sign in with the token")
    assert "lacks the scope" in await page.locator(".error").inner_text()
    await page.fill("textarea[name=token]", make_token("ttd", scopes=[SCOPE_SUPPORT]))
    await page.click("text=Sign in with the token")
    await page.wait_for_url(f"{url}/console")
    assert "token:ttd" in await page.locator("header").inner_text()
    await phone.close()

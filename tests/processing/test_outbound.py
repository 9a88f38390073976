"""Sender-chosen URLs (processing/outbound.py): only vetted targets are connected to, no cookies are kept,
redirects are not followed, TLS still checks the URL's host name, and condition logs hold no response body."""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route
from structlog.testing import capture_logs

from altinn_notifications.config import Settings, SettingsError, load_settings
from altinn_notifications.processing.condition import HttpConditionClient
from altinn_notifications.processing.outbound import (
    OutboundPolicy,
    OutboundRefused,
    VettingTransport,
    outbound_client,
    refusal_reason,
)
from tests.certificates import server_files
from tests.conftest import LOOPBACK_NETWORKS
from tests.loopback import serve

BODY_SECRET = "private-answer-7f3a9c"


@dataclass
class Endpoint:
    base: str = ""
    seen: list[tuple[str, str, str]] = field(default_factory=list)  # path, Host, Cookie

    def app(self) -> Starlette:
        async def answer(request: Request) -> Response:
            path = request.path_params["path"]
            self.seen.append((path, request.headers.get("host", ""), request.headers.get("cookie", "")))
            if path == "cookie":
                response = JSONResponse({"sendNotification": True})
                response.set_cookie("session", "from-one-sender")
                return response
            if path == "redirect":
                return RedirectResponse(f"{self.base}/true", status_code=302)
            if path == "error":
                return PlainTextResponse(f"{BODY_SECRET} stack trace", status_code=500)
            if path == "text":
                return PlainTextResponse(f"{BODY_SECRET} not json")
            return JSONResponse({"sendNotification": True})

        return Starlette(routes=[Route("/{path}", answer)])


@pytest.fixture
async def endpoint() -> AsyncIterator[Endpoint]:
    state = Endpoint()
    async with serve(state.app()) as base:
        state.base = base
        yield state


def _client(policy: OutboundPolicy) -> httpx.AsyncClient:
    return outbound_client(policy, timeout=5.0)


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("100.64.0.1", "shared address space"),
        ("fd00::1", "unique-local"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("240.0.0.1", "private"),
        ("192.0.2.10", "private"),  # documentation range
        ("::ffff:127.0.0.1", "loopback"),
        ("2002:a9fe:a9fe::1", "link-local"),  # 6to4 around 169.254.169.254
        ("64:ff9b::a00:1", "private"),  # NAT64 around 10.0.0.1
        ("8.8.8.8", None),
        ("2001:4860:4860::8888", None),
    ],
)
def test_addresses_that_are_not_public_are_refused(address: str, reason: str | None) -> None:
    assert refusal_reason(ipaddress.ip_address(address)) == reason


def test_the_settings_allow_private_targets_but_never_unspecified_or_multicast() -> None:
    loopback = ipaddress.ip_address("127.0.0.1")
    assert OutboundPolicy().refusal("localhost", loopback) == "loopback"
    assert OutboundPolicy(allow_private=True).refusal("localhost", loopback) is None
    assert OutboundPolicy.of(allowed=["LocalHost."]).refusal("localhost", loopback) is None
    assert (
        OutboundPolicy.of(allowed=["10.0.0.0/8"]).refusal("intranet", ipaddress.ip_address("10.2.3.4"))
        is None
    )
    assert OutboundPolicy.of(allowed=["10.0.0.0/8"]).refusal("x", ipaddress.ip_address("10.2.3.4")) is None
    assert OutboundPolicy.of(allowed=["10.0.0.0/8"]).refusal("x", loopback) == "loopback"
    everything = OutboundPolicy.of(True, ["0.0.0.0/0", "::/0"])
    assert everything.refusal("x", ipaddress.ip_address("0.0.0.0")) == "unspecified"
    assert everything.refusal("x", ipaddress.ip_address("224.0.0.1")) == "multicast"


def test_outbound_settings_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().outbound_allow_private is False
    assert Settings().outbound_allowed_hosts == []
    monkeypatch.setenv("NOTIFICATIONS_OUTBOUND_ALLOW_PRIVATE", "true")
    monkeypatch.setenv("NOTIFICATIONS_OUTBOUND_ALLOWED_HOSTS", '["conditions.intranet", "10.20.0.0/16"]')
    settings = Settings()
    assert settings.outbound_allow_private is True
    assert settings.outbound_allowed_hosts == ["conditions.intranet", "10.20.0.0/16"]
    monkeypatch.setenv("NOTIFICATIONS_OUTBOUND_ALLOWED_HOSTS", '["http://x/"]')
    with pytest.raises(SettingsError, match="NOTIFICATIONS_OUTBOUND_ALLOWED_HOSTS"):
        load_settings()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_a_loopback_condition_endpoint_is_refused_by_default(endpoint: Endpoint, host: str) -> None:
    url = _on(endpoint, host, "true")
    async with _client(OutboundPolicy()) as http:
        with capture_logs() as logs:
            assert await HttpConditionClient(http).check(url) is None  # inconclusive: asked again, then sent
    assert endpoint.seen == []  # never called
    assert [(e["event"], e["reason"], e["refused"]) for e in logs] == [
        ("send condition inconclusive", "target refused", "loopback")
    ]
    assert "true" not in str(logs) and str(_port(endpoint)) not in str(logs)


@pytest.mark.parametrize(
    "policy",
    [
        OutboundPolicy(allow_private=True),
        OutboundPolicy.of(allowed=["localhost", "127.0.0.1"]),
        OutboundPolicy.of(allowed=LOOPBACK_NETWORKS),
    ],
)
@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_a_loopback_condition_endpoint_is_called_when_allowed(
    endpoint: Endpoint, host: str, policy: OutboundPolicy
) -> None:
    async with _client(policy) as http:
        assert await HttpConditionClient(http).check(_on(endpoint, host, "true")) is True
    # Connected to the vetted address; the Host header is still the URL's.
    assert endpoint.seen == [("true", f"{host}:{_port(endpoint)}", "")]


async def test_the_metadata_address_is_refused() -> None:
    async with _client(OutboundPolicy()) as http:
        with pytest.raises(OutboundRefused) as refused:
            await http.get("http://169.254.169.254/latest/meta-data/")
        assert refused.value.reason == "link-local"
        with capture_logs() as logs:
            assert await HttpConditionClient(http).check("http://169.254.169.254/computeMetadata/v1/") is None
    assert logs[0]["refused"] == "link-local"
    assert "computeMetadata" not in str(logs)


async def test_a_cookie_from_one_endpoint_is_not_sent_on_later_calls(endpoint: Endpoint) -> None:
    async with _client(OutboundPolicy.of(allowed=LOOPBACK_NETWORKS)) as http:
        condition = HttpConditionClient(http)
        assert await condition.check(f"{endpoint.base}/cookie") is True
        assert await condition.check(f"{endpoint.base}/true") is True
        assert not http.cookies
    assert [(path, cookie) for path, _, cookie in endpoint.seen] == [("cookie", ""), ("true", "")]


async def test_a_redirect_is_not_followed(endpoint: Endpoint) -> None:
    async with _client(OutboundPolicy.of(allowed=LOOPBACK_NETWORKS)) as http:
        with capture_logs() as logs:
            assert await HttpConditionClient(http).check(f"{endpoint.base}/redirect") is None
    assert [path for path, _, _ in endpoint.seen] == ["redirect"]
    assert logs[0]["status"] == 302


@pytest.mark.parametrize("path", ["error", "text"])
async def test_the_condition_log_holds_no_part_of_the_answer(endpoint: Endpoint, path: str) -> None:
    async with _client(OutboundPolicy.of(allowed=LOOPBACK_NETWORKS)) as http:
        with capture_logs() as logs:
            assert await HttpConditionClient(http).check(f"{endpoint.base}/{path}") is None
    assert len(logs) == 1 and logs[0]["event"] == "send condition inconclusive"
    text = str(logs)
    assert "private-answer" not in text and "stack trace" not in text and "not json" not in text


def _port(endpoint: Endpoint) -> int:
    port = httpx.URL(endpoint.base).port
    assert port is not None
    return port


def _on(endpoint: Endpoint, host: str, path: str) -> str:
    return f"http://{host}:{_port(endpoint)}/{path}"


# --- TLS: the connection goes to the vetted address, the certificate is checked against the host name ---


def _certificate(directory: Path, name: str) -> tuple[Path, Path]:
    return server_files(directory, name, hosts=(name,))


@pytest.mark.parametrize(("certified", "accepted"), [("localhost", True), ("elsewhere.example", False)])
async def test_tls_checks_the_certificate_against_the_url_host(
    tmp_path: Path, certified: str, accepted: bool
) -> None:
    cert_file, key_file = _certificate(tmp_path, certified)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert_file, key_file)
    names: list[str | None] = []
    server_context.sni_callback = lambda _sock, name, _ctx: names.append(name)  # type: ignore[assignment,func-returns-value]

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            body = b'{"sendNotification": true}'
            writer.write(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s"
                % (len(body), body)
            )
            await writer.drain()
        except (ssl.SSLError, asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=server_context)
    port = server.sockets[0].getsockname()[1]
    client_context = ssl.create_default_context(cafile=str(cert_file))
    transport = VettingTransport(OutboundPolicy.of(allowed=LOOPBACK_NETWORKS), ssl_context=client_context)
    try:
        async with outbound_client(OutboundPolicy(), timeout=5.0, transport=transport) as http:
            if accepted:
                response = await http.get(f"https://localhost:{port}/condition")
                assert response.json() == {"sendNotification": True}
            else:
                with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                    await http.get(f"https://localhost:{port}/condition")
    finally:
        server.close()
        await server.wait_closed()
    assert names == ["localhost"]  # SNI is the URL's host name, not the address connected to

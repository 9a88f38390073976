"""The HTTP client for URLs that senders choose (send-condition endpoints, composed emails' attachment SAS URLs).

Senders pick these URLs, so a request to one must not reach what only the service can reach (server-side
request forgery): the platform APIs, the database host, a cloud metadata address. Hence a client of its
own, not the one that calls the Altinn platform:

- The host is resolved when the connection is opened, every address is vetted, and the connection goes to
  a vetted address (the same lookup: no window for a DNS answer that changes in between). The request keeps
  the URL's host name for its Host header, and TLS sends it as SNI and checks the certificate against it.
- Refused by default: loopback, private (RFC 1918), link-local (169.254/16, with the metadata address),
  shared address space (100.64/10), unique-local (fc00::/7), site-local, reserved and every other address
  that is not public (`ipaddress`'s `is_global`), IPv6 forms embedding a refused IPv4 address (mapped,
  6to4, NAT64), and always unspecified and multicast addresses. On-premises deployments allow private
  targets with `NOTIFICATIONS_OUTBOUND_ALLOW_PRIVATE`, or some of them with
  `NOTIFICATIONS_OUTBOUND_ALLOWED_HOSTS` (host names, or IP networks).
- No cookies are kept (one sender's `Set-Cookie` is never replayed to anybody), redirects are not followed,
  and proxy environment variables are ignored (a proxy would be vetted instead of the target).

A refused target raises `OutboundRefused` (an `httpx.TransportError`) naming the reason, never the URL.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from http.cookiejar import CookieJar, DefaultCookiePolicy

import httpcore
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_SHARED = ipaddress.IPv4Network("100.64.0.0/10")
_UNIQUE_LOCAL = ipaddress.IPv6Network("fc00::/7")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
#: Never an HTTP server, whatever the settings say.
_NEVER = frozenset({"unspecified", "multicast"})


class OutboundRefused(httpx.ConnectError):
    """The target of a sender-chosen URL is not allowed; `reason` names its kind (e.g. `loopback`)."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"target refused: {reason}")
        self.reason = reason


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def refusal_reason(address: IPAddress) -> str | None:
    """Why `address` is not a public target (None: it is)."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = _embedded_ipv4(address)
        if inner is not None:
            return refusal_reason(inner)
    checks: list[tuple[bool, str]] = [
        (address.is_unspecified, "unspecified"),
        (address.is_loopback, "loopback"),
        (address.is_multicast, "multicast"),
        (address.is_link_local, "link-local"),
        (isinstance(address, ipaddress.IPv4Address) and address in _SHARED, "shared address space"),
        (isinstance(address, ipaddress.IPv6Address) and address in _UNIQUE_LOCAL, "unique-local"),
        (isinstance(address, ipaddress.IPv6Address) and address.is_site_local, "site-local"),
        (address.is_private, "private"),
        (address.is_reserved, "reserved"),
        # `is_global` also leaves out the documentation, benchmarking and protocol-assignment ranges.
        (not address.is_global, "not public"),
    ]
    return next((reason for refused, reason in checks if refused), None)


def _host_key(host: str) -> str:
    return host.strip().lower().rstrip(".")


@dataclass(frozen=True)
class OutboundPolicy:
    """Which targets sender-chosen URLs may reach; the default allows public addresses only."""

    allow_private: bool = False
    allowed_hosts: frozenset[str] = frozenset()
    allowed_networks: tuple[IPNetwork, ...] = field(default=())

    @classmethod
    def of(cls, allow_private: bool = False, allowed: Iterable[str] = ()) -> OutboundPolicy:
        """From the settings: each allowed entry is an IP network (or address), else a host name."""
        hosts: set[str] = set()
        networks: list[IPNetwork] = []
        for entry in allowed:
            try:
                networks.append(ipaddress.ip_network(entry.strip(), strict=False))
            except ValueError:
                hosts.add(_host_key(entry))
        return cls(allow_private, frozenset(hosts), tuple(networks))

    def refusal(self, host: str, address: IPAddress) -> str | None:
        """Why `host`, resolved to `address`, may not be connected to (None: it may)."""
        reason = refusal_reason(address)
        if reason is None or reason in _NEVER:
            return reason
        if self.allow_private or _host_key(host) in self.allowed_hosts:
            return None
        forms: list[IPAddress] = [address]
        if isinstance(address, ipaddress.IPv6Address) and (inner := _embedded_ipv4(address)) is not None:
            forms.append(inner)
        if any(a in network for a in forms for network in self.allowed_networks):
            return None
        return reason


class VettingBackend(httpcore.AsyncNetworkBackend):
    """Opens connections only to vetted addresses of the requested host (see the module docstring)."""

    def __init__(self, policy: OutboundPolicy, inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self.policy = policy
        self.inner = inner or httpcore.AnyIOBackend()

    async def resolve(self, host: str, port: int, within: float | None) -> list[IPAddress]:
        """The host's addresses that may be connected to; `OutboundRefused` when there is none."""
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(within):
                found = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except TimeoutError:
            raise httpcore.ConnectTimeout("name resolution timed out") from None
        except OSError as exc:
            raise httpcore.ConnectError(f"name resolution failed: {type(exc).__name__}") from None
        addresses: list[IPAddress] = []
        for *_, sockaddr in found:
            address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
            if address not in addresses:
                addresses.append(address)
        reasons = [self.policy.refusal(host, a) for a in addresses]
        allowed = [a for a, reason in zip(addresses, reasons, strict=True) if reason is None]
        if not allowed:
            raise OutboundRefused(next((r for r in reasons if r), "no address"))
        return allowed

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        options: Sequence[httpcore.SOCKET_OPTION] | None = list(socket_options) if socket_options else None
        last: Exception | None = None
        for address in await self.resolve(host, port, timeout):
            try:
                return await self.inner.connect_tcp(str(address), port, timeout, local_address, options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise OutboundRefused("unix socket")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class VettingTransport(httpx.AsyncHTTPTransport):
    """httpx's transport (TLS verified against the URL's host name) over a `VettingBackend`."""

    def __init__(self, policy: OutboundPolicy, ssl_context: ssl.SSLContext | None = None) -> None:
        super().__init__(trust_env=False)
        # httpcore sends the URL's host as SNI and verifies the certificate against it, whatever address
        # the backend connected to.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context or httpx.create_ssl_context(trust_env=False),
            network_backend=VettingBackend(policy),
        )


def _no_cookies() -> CookieJar:
    return CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))


def outbound_client(
    policy: OutboundPolicy,
    *,
    timeout: float | httpx.Timeout,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """A client for sender-chosen URLs. `transport` (tests) replaces the vetting transport."""
    return httpx.AsyncClient(
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,
        cookies=_no_cookies(),
        transport=transport or VettingTransport(policy),
    )

"""Auth fixtures: throwaway RSA keys and a real JWKS / OpenID HTTP server on a loopback port."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from tests.auth.helpers import JwksHTTPServer, JwksServer, JwksServerState


@pytest.fixture(scope="session")
def rsa_keys() -> list[RSAPrivateKey]:
    """A few independent signing keys (generated once; key generation is slow)."""
    return [rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(3)]


@pytest.fixture
def jwks_server() -> Iterator[JwksServer]:
    """A real HTTP server on a free loopback port serving an OpenID configuration and its JWKS."""
    state = JwksServerState()
    server = JwksHTTPServer(state)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield JwksServer(state=state, base_url=f"http://127.0.0.1:{server.server_address[1]}")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

"""Auth test helpers: a token signer, a real JWKS / OpenID HTTP server for loopback, platform-token issuers."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from jwt.algorithms import RSAAlgorithm

from altinn_notifications.auth.dev import mint_platform_token
from altinn_notifications.config import SCOPE_CREATE


def jwk(key: RSAPrivateKey, kid: str | None) -> dict[str, Any]:
    """The public JWK of `key`, as an identity provider publishes it."""
    data: dict[str, Any] = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    data["use"] = "sig"
    data["alg"] = "RS256"
    if kid is not None:
        data["kid"] = kid
    return data


def claims(
    org: str | None = "ttd", scope: str | None = SCOPE_CREATE, ttl: int = 300, **extra: Any
) -> dict[str, Any]:
    now = int(time.time())
    out: dict[str, Any] = {"iss": "https://idp.test", "iat": now, "nbf": now, "exp": now + ttl}
    if org is not None:
        out["urn:altinn:org"] = org
    if scope is not None:
        out["urn:altinn:scope"] = scope
    out.update(extra)
    return out


def sign(key: RSAPrivateKey, kid: str | None, payload: dict[str, Any] | None = None) -> str:
    headers = {"kid": kid} if kid is not None else {}
    return jwt.encode(payload if payload is not None else claims(), key, algorithm="RS256", headers=headers)


@dataclass
class JwksServerState:
    """What the server answers; tests change it between requests."""

    jwks: dict[str, Any] = field(default_factory=lambda: {"keys": []})
    fail_status: int | None = None
    body_override: bytes | None = None
    requests: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, path: str | None = None) -> int:
        with self.lock:
            return len([p for p in self.requests if path is None or p == path])


class _Handler(BaseHTTPRequestHandler):
    server: JwksHTTPServer

    def do_GET(self) -> None:
        state = self.server.state
        with state.lock:
            state.requests.append(self.path)
        if state.fail_status is not None:
            self._send(state.fail_status, b'{"error": "down"}')
            return
        if state.body_override is not None:
            self._send(200, state.body_override)
            return
        if self.path == "/.well-known/openid-configuration":
            base = f"http://127.0.0.1:{self.server.server_address[1]}"
            # A relative jwks_uri would also do; the absolute form is what Altinn publishes.
            doc = {"issuer": base, "jwks_uri": f"{base}/jwks"}
            self._send(200, json.dumps(doc).encode())
        elif self.path == "/jwks":
            self._send(200, json.dumps(state.jwks).encode())
        else:
            self._send(404, b"{}")

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return None


class JwksHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, state: JwksServerState) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = state


@dataclass
class JwksServer:
    state: JwksServerState
    base_url: str

    @property
    def openid_url(self) -> str:
        return f"{self.base_url}/.well-known/openid-configuration"

    @property
    def jwks_url(self) -> str:
        return f"{self.base_url}/jwks"


def public_pem(key: RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@dataclass
class PlatformIssuers:
    """Platform-token issuers with a key each, written as `<issuer>.pem` public keys to `keys_dir`."""

    keys_dir: Path
    keys: dict[str, RSAPrivateKey]

    def mint(self, issuer: str = "ttd", *, signer: str | None = None, ttl: int = 300, **extra: Any) -> str:
        """A platform access token of `issuer`, signed with the key of `signer` (default: the issuer)."""
        return mint_platform_token(
            self.keys[signer or issuer],
            issuer=issuer,
            app=f"{issuer}/app",
            ttl_seconds=ttl,
            extra_claims=extra or None,
        )


def write_platform_issuers(keys_dir: Path, keys: dict[str, RSAPrivateKey]) -> PlatformIssuers:
    keys_dir.mkdir(parents=True, exist_ok=True)
    for issuer, key in keys.items():
        (keys_dir / f"{issuer}.pem").write_bytes(public_pem(key))
    return PlatformIssuers(keys_dir=keys_dir, keys=dict(keys))

"""Platform Access Tokens of our own, for Altinn Register and the PDP (docs/compatibility.md C11: issued as
`platform`/`notifications`): short-lived RS256 JWTs signed with the operator's key, minted when needed and
reused until shortly before they expire."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from altinn_notifications.auth.keys import jwk_thumbprint

#: Lifetime of a minted token; a new one is minted once less than `RENEW_BEFORE` seconds remain.
LIFETIME_SECONDS = 300
RENEW_BEFORE_SECONDS = 60


class PlatformAccessTokens:
    """Callable token source (`TokenSource` of the Altinn adapters): returns a valid token each call."""

    def __init__(
        self,
        key: RSAPrivateKey,
        *,
        issuer: str,
        app: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._key = key
        self._kid = jwk_thumbprint(key)
        self._issuer = issuer
        self._app = app
        self._clock = clock
        self._lock = threading.Lock()
        self._token = ""
        self._expires = 0.0

    @classmethod
    def from_file(cls, path: Path, *, issuer: str, app: str) -> PlatformAccessTokens:
        key = load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, RSAPrivateKey):
            raise ValueError(f"{path}: not an RSA private key")
        return cls(key, issuer=issuer, app=app)

    def __call__(self) -> str:
        now = self._clock()
        with self._lock:
            if now > self._expires - RENEW_BEFORE_SECONDS:
                issued = int(now)
                claims = {
                    "iss": self._issuer,
                    "urn:altinn:app": self._app,
                    "iat": issued,
                    "nbf": issued,
                    "exp": issued + LIFETIME_SECONDS,
                }
                self._token = jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self._kid})
                self._expires = issued + LIFETIME_SECONDS
            return self._token

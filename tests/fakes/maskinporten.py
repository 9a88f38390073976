"""A Maskinporten stand-in on loopback: checks JWT grants the way Maskinporten does and issues tokens.

Usage::

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    fake = FakeMaskinporten()
    fake.register(MaskinportenClientRegistration(
        client_id="my-client", org_number="991825827", scopes={"altinn:serviceowner/notifications.create"},
        keys={"my-kid": key.public_key()},            # registered keys, by kid
        certificates=[certificate],                     # and/or business certificates accepted as x5c
    ))
    async with fake.running() as base_url:             # real HTTP on 127.0.0.1
        fake.environment                                # issuer + token endpoint for MaskinportenConfig
        fake.jwks_url                                   # the public keys its tokens are signed with

Routes (the documented wire format):

- `POST /token` (form: `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`, `assertion=<grant>`):
  the grant must be RS256/384/512-signed by a key registered for its `iss` (header `kid`) or by the
  registered business certificate sent as `x5c`; `aud` = the issuer (`<base>/`), `iss` = a registered
  client, `iat` within `clock_skew` (10 s) of now, `exp - iat` ≤ 120 s and in the future, `jti` never
  seen before, every requested scope allowed for the client. Answers 200 `{access_token, token_type,
  expires_in, scope}`, or 400 `{error, error_description}` with `invalid_grant`, `invalid_scope`,
  `invalid_request`, `unsupported_grant_type`.
- `GET /jwk`: the JWKS of the token signing key; `GET /.well-known/oauth-authorization-server`:
  metadata (`issuer`, `token_endpoint`, `jwks_uri`, ...).
- `GET /authentication/api/v1/exchange/maskinporten` (the Altinn exchange, when `altinn_key` is given):
  the bearer Maskinporten token verified against this fake's key; answers an Altinn token (plain text)
  signed with `altinn_key` carrying `urn:altinn:org` (from `org_codes`, by org number),
  `urn:altinn:orgNumber`, `scope`, `client_id`, `consumer`, `iss` = `altinn_issuer`, `exp` (the
  Maskinporten token's).

`issue_token(client_id, scopes, resource)` mints such a token directly. Access tokens are RS256 JWTs with `iss`, `client_id`, `client_amr`, `token_type`, `scope`, `consumer`
(`{"authority": "iso6523-actorid-upis", "ID": "0192:<orgnr>"}`), `exp`, `iat`, `jti`, and `aud` when the
grant asked for a `resource`. `token_lifetime` sets `expires_in`. Counters: `grants_accepted`,
`grants_refused` (list of error codes), `exchanges`. `fail_next(n, status)` makes the next n token
requests answer `status` (to test a failing Maskinporten).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey
from jwt.algorithms import RSAAlgorithm
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from tests.loopback import serve

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
GRANT_ALGORITHMS = ["RS256", "RS384", "RS512"]
MAX_GRANT_LIFETIME = 120


@dataclass
class MaskinportenClientRegistration:
    """A client as registered with Maskinporten: who it is, what it may ask for, how it signs."""

    client_id: str
    org_number: str
    scopes: set[str]
    keys: dict[str, RSAPublicKey] = field(default_factory=dict)
    certificates: list[x509.Certificate] = field(default_factory=list)


class GrantError(Exception):
    def __init__(self, error: str, description: str):
        super().__init__(description)
        self.error = error
        self.description = description


def _fingerprint(certificate: x509.Certificate) -> bytes:
    return hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).digest()


class FakeMaskinporten:
    def __init__(
        self,
        clients: Iterable[MaskinportenClientRegistration] = (),
        *,
        token_lifetime: int = 120,
        clock_skew: int = 10,
        altinn_key: RSAPrivateKey | None = None,
        altinn_key_id: str | None = None,
        altinn_issuer: str = "https://platform.altinn.no/authentication/api/v1/openid/",
        org_codes: Mapping[str, str] | None = None,
    ):
        self.clients: dict[str, MaskinportenClientRegistration] = {c.client_id: c for c in clients}
        self.token_lifetime = token_lifetime
        self.clock_skew = clock_skew
        self.signing_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.signing_kid = "fake-maskinporten-" + uuid.uuid4().hex[:8]
        self.altinn_key = altinn_key
        self.altinn_key_id = altinn_key_id
        self.altinn_issuer = altinn_issuer
        self.org_codes = dict(org_codes or {})
        self.base_url = ""
        self.seen_jti: set[str] = set()
        self.grants_accepted = 0
        self.grants_refused: list[str] = []
        self.exchanges = 0
        self._failures: list[int] = []
        self.app = Starlette(
            routes=[
                Route("/token", self._token, methods=["POST"]),
                Route("/jwk", self._jwks, methods=["GET"]),
                Route("/.well-known/oauth-authorization-server", self._metadata, methods=["GET"]),
                Route("/authentication/api/v1/exchange/maskinporten", self._exchange, methods=["GET"]),
            ]
        )

    # -- configuration -------------------------------------------------------------------------------

    def register(self, client: MaskinportenClientRegistration) -> MaskinportenClientRegistration:
        self.clients[client.client_id] = client
        return client

    def fail_next(self, count: int, status: int = 503) -> None:
        self._failures.extend([status] * count)

    @property
    def issuer(self) -> str:
        return self.base_url + "/"

    @property
    def token_endpoint(self) -> str:
        return self.base_url + "/token"

    @property
    def jwks_url(self) -> str:
        return self.base_url + "/jwk"

    @property
    def exchange_url(self) -> str:
        return self.base_url + "/authentication/api/v1/exchange/maskinporten"

    @property
    def environment(self) -> Any:
        """The client library's `Environment` pointing here."""
        from altinn_notifications_client.maskinporten import Environment

        return Environment(
            issuer=self.issuer, token_endpoint=self.token_endpoint, altinn_exchange_url=self.exchange_url
        )

    def jwks(self) -> dict[str, Any]:
        jwk = json.loads(RSAAlgorithm.to_jwk(self.signing_key.public_key()))
        jwk.update({"kid": self.signing_kid, "use": "sig", "alg": "RS256"})
        return {"keys": [jwk]}

    @asynccontextmanager
    async def running(self) -> AsyncIterator[str]:
        async with serve(self.app) as url:
            self.base_url = url
            yield url

    def issue_token(
        self, client_id: str, scopes: Iterable[str], resource: str | list[str] | None = None
    ) -> str:
        """An access token for a registered client, as `/token` would issue it (no grant needed: for tests
        of services that accept Maskinporten tokens)."""
        grant: dict[str, Any] = {"scope": " ".join(scopes)}
        if resource is not None:
            grant["resource"] = resource
        token: str = self._issue(self.clients[client_id], grant, "private_key_jwt")["access_token"]
        return token

    def verify_access_token(self, token: str, audience: str | None = None) -> dict[str, Any]:
        """The claims of a token this fake issued (signature, `iss` and `exp` checked)."""
        options = {"verify_aud": audience is not None}
        claims: dict[str, Any] = jwt.decode(
            token,
            self.signing_key.public_key(),
            algorithms=["RS256"],
            issuer=self.issuer,
            audience=audience,
            options=options,  # type: ignore[arg-type]
        )
        return claims

    # -- grant checks ----------------------------------------------------------------------------------

    def _grant_key(self, header: dict[str, Any], client: MaskinportenClientRegistration) -> RSAPublicKey:
        kid, x5c = header.get("kid"), header.get("x5c")
        if kid is not None:
            key = client.keys.get(str(kid))
            if key is None:
                raise GrantError(
                    "invalid_grant", "Invalid assertion. Client authentication failed: unknown kid"
                )
            return key
        if not isinstance(x5c, list) or not x5c or not isinstance(x5c[0], str):
            raise GrantError("invalid_grant", "Invalid assertion. Either kid or x5c must be present")
        try:
            leaf = x509.load_der_x509_certificate(base64.b64decode(x5c[0], validate=True))
        except (ValueError, binascii.Error):
            raise GrantError("invalid_grant", "Invalid assertion. Malformed x5c certificate") from None
        if _fingerprint(leaf) not in {_fingerprint(c) for c in client.certificates}:
            raise GrantError("invalid_grant", "Invalid assertion. Certificate not registered for client")
        now = dt.datetime.now(dt.UTC)
        if not leaf.not_valid_before_utc <= now <= leaf.not_valid_after_utc:
            raise GrantError("invalid_grant", "Invalid assertion. Certificate not valid now")
        public = leaf.public_key()
        if not isinstance(public, RSAPublicKey):
            raise GrantError("invalid_grant", "Invalid assertion. Certificate key is not RSA")
        return public

    def _check_grant(self, assertion: str) -> tuple[MaskinportenClientRegistration, dict[str, Any], str]:
        try:
            header = jwt.get_unverified_header(assertion)
            unverified = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise GrantError("invalid_grant", "Invalid assertion. Not a JWT") from None
        if header.get("alg") not in GRANT_ALGORITHMS:
            raise GrantError("invalid_grant", "Invalid assertion. Unsupported alg")
        client = self.clients.get(str(unverified.get("iss")))
        if client is None:
            raise GrantError("invalid_grant", "Invalid assertion. Unknown client (iss)")
        key = self._grant_key(header, client)
        try:
            claims: dict[str, Any] = jwt.decode(
                assertion,
                key,
                algorithms=GRANT_ALGORITHMS,
                audience=self.issuer,
                options={"require": ["aud", "iss", "iat", "exp"], "verify_exp": False, "verify_iat": False},
            )
        except jwt.InvalidAudienceError:
            raise GrantError("invalid_grant", "Invalid assertion. Invalid audience") from None
        except jwt.PyJWTError:
            raise GrantError("invalid_grant", "Invalid assertion. Signature or claims invalid") from None
        now = time.time()
        iat, exp = claims["iat"], claims["exp"]
        if not isinstance(iat, int | float) or not isinstance(exp, int | float):
            raise GrantError("invalid_grant", "Invalid assertion. iat and exp must be numbers")
        if abs(now - iat) > self.clock_skew:
            raise GrantError("invalid_grant", "Invalid assertion. iat too far from server time")
        if exp - iat > MAX_GRANT_LIFETIME:
            raise GrantError("invalid_grant", "Invalid assertion. exp - iat exceeds 120 seconds")
        if exp <= now - self.clock_skew:
            raise GrantError("invalid_grant", "Invalid assertion. The grant has expired")
        jti = claims.get("jti")
        if jti is not None:
            if jti in self.seen_jti:
                raise GrantError("invalid_grant", "Invalid assertion. The jti has been used before")
            self.seen_jti.add(str(jti))
        scope = claims.get("scope")
        if not isinstance(scope, str) or not scope.split():
            raise GrantError("invalid_scope", "No scope requested")
        refused = sorted(set(scope.split()) - client.scopes)
        if refused:
            raise GrantError("invalid_scope", f"Scope(s) not allowed for client: {' '.join(refused)}")
        amr = "private_key_jwt" if header.get("kid") is not None else "virksomhetssertifikat"
        return client, claims, amr

    def _issue(
        self, client: MaskinportenClientRegistration, grant: dict[str, Any], amr: str
    ) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "client_amr": amr,
            "token_type": "Bearer",
            "scope": " ".join(sorted(set(grant["scope"].split()))),
            "client_id": client.client_id,
            "consumer": {"authority": "iso6523-actorid-upis", "ID": f"0192:{client.org_number}"},
            "iat": now,
            "exp": now + self.token_lifetime,
            "jti": str(uuid.uuid4()),
        }
        resource = grant.get("resource")
        if resource is not None:
            claims["aud"] = resource
        token = jwt.encode(claims, self.signing_key, algorithm="RS256", headers={"kid": self.signing_kid})
        return {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": self.token_lifetime,
            "scope": claims["scope"],
        }

    # -- routes --------------------------------------------------------------------------------------

    def _refuse(self, error: str, description: str) -> JSONResponse:
        self.grants_refused.append(error)
        return JSONResponse({"error": error, "error_description": description}, status_code=400)

    async def _token(self, request: Request) -> Response:
        if self._failures:
            return JSONResponse({"error": "server_error"}, status_code=self._failures.pop(0))
        if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            return self._refuse("invalid_request", "Content-Type must be application/x-www-form-urlencoded")
        # Parsed here (not `request.form()`, which needs python-multipart, not a dependency of the suite).
        form = parse_qs((await request.body()).decode("ascii", "replace"))
        if form.get("grant_type") != [GRANT_TYPE]:
            return self._refuse("unsupported_grant_type", "grant_type must be jwt-bearer")
        assertion = (form.get("assertion") or [""])[0]
        if not assertion:
            return self._refuse("invalid_request", "assertion is missing")
        try:
            client, claims, amr = self._check_grant(assertion)
        except GrantError as exc:
            return self._refuse(exc.error, exc.description)
        self.grants_accepted += 1
        return JSONResponse(self._issue(client, claims, amr))

    async def _jwks(self, request: Request) -> Response:
        return JSONResponse(self.jwks())

    async def _metadata(self, request: Request) -> Response:
        return JSONResponse(
            {
                "issuer": self.issuer,
                "token_endpoint": self.token_endpoint,
                "jwks_uri": self.jwks_url,
                "token_endpoint_auth_methods_supported": ["private_key_jwt"],
                "grant_types_supported": [GRANT_TYPE],
                "token_endpoint_auth_signing_alg_values_supported": GRANT_ALGORITHMS,
            }
        )

    async def _exchange(self, request: Request) -> Response:
        if self.altinn_key is None:
            return PlainTextResponse("exchange not configured", status_code=404)
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return PlainTextResponse("", status_code=401)
        try:
            source = self.verify_access_token(token.strip())
        except jwt.PyJWTError:
            return PlainTextResponse("", status_code=401)
        self.exchanges += 1
        org_number = str(source["consumer"]["ID"]).rpartition(":")[2]
        claims: dict[str, Any] = {
            "iss": self.altinn_issuer,
            "scope": source["scope"],
            "client_id": source["client_id"],
            "consumer": source["consumer"],
            "urn:altinn:orgNumber": org_number,
            "urn:altinn:authenticatemethod": "maskinporten",
            "urn:altinn:authlevel": 3,
            "iat": int(time.time()),
            "exp": source["exp"],
            "jti": str(uuid.uuid4()),
        }
        org = self.org_codes.get(org_number)
        if org is not None:
            claims["urn:altinn:org"] = org
        headers = {"kid": self.altinn_key_id} if self.altinn_key_id else None
        return PlainTextResponse(jwt.encode(claims, self.altinn_key, algorithm="RS256", headers=headers))

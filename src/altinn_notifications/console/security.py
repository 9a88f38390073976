"""Who may use the console, and how a browser proves it.

- A session is a signed cookie (itsdangerous, HMAC-SHA1 over a timestamped payload; the secret is a
  setting, else generated once in the data dir): HTTP-only, SameSite=Strict, `Secure` when the service's
  base URI is https, scoped to `/console`, valid for `console_session_hours`.
- Each session carries a random CSRF token; every form that changes something posts it back and it is
  compared in constant time. The sign-in form itself is protected by a double-submit cookie.
- The operator password is compared in constant time: a `pbkdf2_sha256$...` setting is checked against
  its hash, a plain one by comparing SHA-256 digests (equal lengths, so nothing leaks through timing).
- A one-time sign-in link is a signed, timestamped nonce; its first use is recorded in the database, so a
  second use of the same link is refused by every process.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.responses import Response

from altinn_notifications.config import Settings

SESSION_COOKIE = "an_console"
SIGNIN_COOKIE = "an_console_signin"
COOKIE_PATH = "/console"
SECRET_FILENAME = "console-secret"
LINK_MAX_AGE_SECONDS = 24 * 3600
PBKDF2_PREFIX = "pbkdf2_sha256"
PBKDF2_ITERATIONS = 600_000


@dataclass(frozen=True)
class ConsoleSession:
    """A signed-in person: who (for the audit log) and the CSRF token of their forms."""

    actor: str
    csrf: str


def session_secret(settings: Settings) -> bytes:
    """The configured secret, else the one kept in the data dir (created on first use, mode 0600)."""
    if settings.console_session_secret is not None:
        return settings.console_session_secret.get_secret_value().encode()
    return _secret_file(settings.data_dir / SECRET_FILENAME)


def _secret_file(path: Path) -> bytes:
    with contextlib.suppress(FileNotFoundError):
        existing = path.read_bytes().strip()
        if existing:
            return existing
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48).encode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it meanwhile: use theirs
        return path.read_bytes().strip()
    with os.fdopen(fd, "wb") as handle:
        handle.write(value)
    return value


class ConsoleSigner:
    """Issues and reads session cookies and one-time sign-in links."""

    def __init__(self, secret: bytes, *, session_seconds: float) -> None:
        self.session_seconds = session_seconds
        self._fingerprint_key = hmac.new(secret, b"altinn-notifications.console.audit", "sha256").digest()
        self._sessions = URLSafeTimedSerializer(secret, salt="altinn-notifications.console.session")
        self._links = URLSafeTimedSerializer(secret, salt="altinn-notifications.console.signin-link")

    @classmethod
    def from_settings(cls, settings: Settings) -> ConsoleSigner:
        return cls(session_secret(settings), session_seconds=settings.console_session_hours * 3600)

    def issue_session(self, actor: str) -> tuple[str, ConsoleSession]:
        session = ConsoleSession(actor=actor, csrf=secrets.token_urlsafe(32))
        return self._sessions.dumps({"a": session.actor, "c": session.csrf}), session

    def read_session(self, cookie: str | None) -> ConsoleSession | None:
        if not cookie:
            return None
        try:
            data = self._sessions.loads(cookie, max_age=int(self.session_seconds))
        except BadSignature:  # also an expired one (SignatureExpired)
            return None
        if (
            not isinstance(data, dict)
            or not isinstance(data.get("a"), str)
            or not isinstance(data.get("c"), str)
        ):
            return None
        return ConsoleSession(actor=data["a"], csrf=data["c"])

    def issue_link(self) -> str:
        """A one-time sign-in token (the link's query value)."""
        return self._links.dumps(secrets.token_urlsafe(24))

    def fingerprint(self, identifier: str) -> str:
        """A keyed fingerprint of an identifier for the audit log: the same person gives the same value, but
        without the secret it cannot be turned back into the identifier (an unkeyed hash of an 11-digit
        number could be, by trying them all)."""
        normalised = identifier.strip().lower().encode()
        return hmac.new(self._fingerprint_key, normalised, "sha256").hexdigest()[:16]

    def signin_link(self, base_uri: str) -> str:
        return f"{base_uri}{COOKIE_PATH}/signin/link?t={self.issue_link()}"

    def read_link(self, token: str) -> str | None:
        """The link's nonce when it is ours and not older than a day; whether it was used is the
        database's to say."""
        try:
            nonce = self._links.loads(token, max_age=LINK_MAX_AGE_SECONDS)
        except BadSignature:
            return None
        return nonce if isinstance(nonce, str) else None


def tokens_match(given: str | None, expected: str) -> bool:
    """Constant-time comparison of a posted CSRF token with the expected one."""
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def hash_password(password: str, *, iterations: int = PBKDF2_ITERATIONS, salt: bytes | None = None) -> str:
    """`pbkdf2_sha256$<iterations>$<salt>$<hash>` (base64), for `NOTIFICATIONS_CONSOLE_PASSWORD`."""
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    return "$".join((PBKDF2_PREFIX, str(iterations), _b64(salt), _b64(digest)))


def password_matches(given: str, configured: str) -> bool:
    """Whether `given` is the operator password (`configured`: plain or a `hash_password` value)."""
    if configured.startswith(PBKDF2_PREFIX + "$"):
        try:
            _, iterations, salt, digest = configured.split("$")
            expected = base64.b64decode(digest)
            actual = hashlib.pbkdf2_hmac("sha256", given.encode(), base64.b64decode(salt), int(iterations))
        except ValueError:
            return False
        return hmac.compare_digest(actual, expected)
    return hmac.compare_digest(
        hashlib.sha256(given.encode()).digest(), hashlib.sha256(configured.encode()).digest()
    )


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def set_cookie(response: Response, settings: Settings, name: str, value: str, max_age: int) -> None:
    """A console cookie: HTTP-only, SameSite=Strict, only under /console, `Secure` behind https."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=settings.base_uri_str.startswith("https://"),
    )


def delete_cookie(response: Response, settings: Settings, name: str) -> None:
    response.delete_cookie(
        name,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=settings.base_uri_str.startswith("https://"),
    )

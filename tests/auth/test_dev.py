"""The dev signing key and the dev token issuer."""

from __future__ import annotations

import base64
import hashlib
import json
import stat
import subprocess
import sys
import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicNumbers
from jwt.algorithms import RSAAlgorithm

from altinn_notifications.auth.dev import DEV_ISSUER, dev_key_id, ensure_dev_key, mint_token
from altinn_notifications.config import SCOPE_CREATE, Settings

ROOT = Path(__file__).resolve().parents[2]


def test_ensure_dev_key_creates_a_private_2048_bit_key(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "key.pem"
    key = ensure_dev_key(path)
    assert key.key_size == 2048
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert [p.name for p in path.parent.iterdir()] == ["key.pem"]  # no temporary file left behind


def test_ensure_dev_key_loads_the_existing_key(tmp_path: Path) -> None:
    path = tmp_path / "key.pem"
    first = ensure_dev_key(path)
    before = path.read_bytes()
    second = ensure_dev_key(path)
    assert path.read_bytes() == before
    assert second.private_numbers() == first.private_numbers()
    assert ensure_dev_key(tmp_path / "other.pem").public_key().public_numbers() != (
        first.public_key().public_numbers()
    )


def test_dev_key_id_is_the_rfc7638_thumbprint() -> None:
    # RFC 7638 section 3.1: the example key and its thumbprint.
    n = (
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRX"
        "jBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs"
        "8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_x"
        "BniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
    )
    modulus = int.from_bytes(base64.urlsafe_b64decode(n + "=" * (-len(n) % 4)), "big")
    public = RSAPublicNumbers(65537, modulus).public_key()
    assert dev_key_id(public) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_dev_key_id_is_stable_and_matches_an_independent_computation(tmp_path: Path) -> None:
    key = ensure_dev_key(tmp_path / "key.pem")
    assert dev_key_id(key) == dev_key_id(key.public_key())
    members = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    canonical = json.dumps({k: members[k] for k in ("e", "kty", "n")}, separators=(",", ":"), sort_keys=True)
    expected = base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()
    assert dev_key_id(key) == expected


_RACE = """
import sys, time
from pathlib import Path
from altinn_notifications.auth.dev import dev_key_id, ensure_dev_key
key_path, ready, go = (Path(a) for a in sys.argv[1:4])
ready.touch()
while not go.exists():
    time.sleep(0.001)
print(dev_key_id(ensure_dev_key(key_path)))
"""


@pytest.mark.slow
def test_concurrent_processes_end_up_with_one_key(tmp_path: Path) -> None:
    path = tmp_path / "data" / "dev-signing-key.pem"
    go = tmp_path / "go"
    ready = [tmp_path / f"ready-{i}" for i in range(5)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _RACE, str(path), str(flag), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        for flag in ready
    ]
    deadline = time.monotonic() + 60
    while not all(flag.exists() for flag in ready) and time.monotonic() < deadline:
        time.sleep(0.01)
    go.touch()  # every process now generates and installs a key at the same moment
    kids = set()
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        kids.add(out.strip())
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(loaded, RSAPrivateKey)
    assert kids == {dev_key_id(loaded)}
    assert sorted(p.name for p in path.parent.iterdir()) == ["dev-signing-key.pem"]


def test_mint_token_claims_and_header(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, database_url=None)
    before = int(time.time())
    token = mint_token(settings, org="ttd", scopes=[SCOPE_CREATE, "altinn:x"], ttl_seconds=600)
    key = ensure_dev_key(settings.dev_key_path)
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "RS256"
    assert header["kid"] == dev_key_id(key)
    body = jwt.decode(token, key.public_key(), algorithms=["RS256"])
    assert body["urn:altinn:org"] == "ttd"
    assert body["urn:altinn:scope"] == f"{SCOPE_CREATE} altinn:x"
    assert body["iss"] == DEV_ISSUER
    assert "urn:altinn:orgNumber" not in body
    assert "aud" not in body
    assert before <= body["iat"] == body["nbf"] <= int(time.time())
    assert body["exp"] == body["iat"] + 600


def test_mint_token_optional_and_extra_claims(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, database_url=None)
    token = mint_token(
        settings,
        org=None,
        scopes=None,
        issuer="ttd",
        ttl_seconds=-10,
        extra_claims={"urn:altinn:orgNumber": "991825827", "nbf": None},
    )
    body = jwt.decode(token, options={"verify_signature": False})
    assert "urn:altinn:org" not in body
    assert "urn:altinn:scope" not in body
    assert "nbf" not in body
    assert body["iss"] == "ttd"
    assert body["urn:altinn:orgNumber"] == "991825827"
    assert body["exp"] < time.time()

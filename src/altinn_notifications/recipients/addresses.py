"""Address rules shared by validation and lookup: email, mobile numbers and identities (docs/compatibility.md C5),
external identity URNs (4.1.1)."""

from __future__ import annotations

import re

import phonenumbers

# docs/compatibility.md C5, without the `;` quirk (an HTML-escaping accident of the reference); anchored and matched
# as a whole (fullmatch), so a list such as `a@b.no;c@d.no` is rejected. No nested quantifiers: linear
# time, no catastrophic backtracking.
_ATOM = r"[A-Za-z0-9æøåÆØÅ!#$%&'*+\-=?^_`{|}~]+"
_LABEL = r"(?:[A-Za-z0-9æøåÆØÅ][A-Za-z0-9\-æøåÆØÅ]{0,61}[A-Za-z0-9æøåÆØÅ]|[A-Za-z0-9æøåÆØÅ])"
_EMAIL = re.compile(
    rf"{_ATOM}(?:\.{_ATOM})*@(?:(?:{_LABEL}\.){{1,9}}[A-Za-z]{{2,14}}|\d{{1,3}}\.\d{{1,3}}\.\d{{1,3}}\.\d{{1,3}})"
)
_DIGITS = re.compile(r"[0-9]+")
_E164_SHAPE = re.compile(r"\+[0-9]+")


def is_valid_email(value: str | None) -> bool:
    """The reference's email rule: trimmed, `local@domain`, one address only."""
    if value is None:
        return False
    value = value.strip()
    return bool(value) and _EMAIL.fullmatch(value) is not None


def is_valid_mobile_number(value: str | None) -> bool:
    """Starts with `+` or `00` (not `++`) and is a valid number for libphonenumber, any region."""
    if not value:
        return False
    value = value.strip()
    if value.startswith("00"):
        value = "+" + value[2:]
    # Only '+' and ASCII digits (the v1 message says so); libphonenumber alone would skip letters and junk.
    if _E164_SHAPE.fullmatch(value) is None:
        return False
    try:
        parsed = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        return False
    return bool(phonenumbers.is_valid_number(parsed))


def normalize_mobile_number(value: str | None) -> str | None:
    """Normalise a number from a register: `00` → `+`; 8-digit 4x/9x → `+47`. None if still invalid."""
    if not value:
        return None
    value = value.strip().replace(" ", "")
    if value.startswith("00"):
        value = "+" + value[2:]
    elif len(value) == 8 and value[0] in "49" and _DIGITS.fullmatch(value):
        value = "+47" + value
    return value if is_valid_mobile_number(value) else None


def is_national_identity_number(value: str | None) -> bool:
    """Exactly 11 digits (no checksum, as the reference)."""
    return value is not None and len(value) == 11 and _DIGITS.fullmatch(value) is not None


def is_organization_number(value: str | None) -> bool:
    """Exactly 9 digits (no checksum, as the reference)."""
    return value is not None and len(value) == 9 and _DIGITS.fullmatch(value) is not None


_EXTERNAL_IDENTITY_PREFIXES = (
    "urn:altinn:person:idporten-email:",
    "urn:altinn:party:username:",
    "urn:altinn:username:",
    "urn:altinn:person:legacy-selfidentified:",
)


def is_external_identity(value: str) -> bool:
    """The external identity URN formats the API accepts (docs/compatibility.md C6)."""
    lowered = value.strip().lower()
    for prefix in _EXTERNAL_IDENTITY_PREFIXES:
        if lowered.startswith(prefix):
            rest = value.strip()[len(prefix) :]
            if prefix == _EXTERNAL_IDENTITY_PREFIXES[0]:
                return is_valid_email(rest)
            return rest.strip() != ""
    return False

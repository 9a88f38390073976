"""Clean-up of register answers (docs/compatibility.md C5 normalisation, 10.5 clean-up) and merging of official and user
contact points: pure functions over the contact point models."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import replace

from altinn_notifications.recipients.addresses import normalize_mobile_number
from altinn_notifications.recipients.models import (
    ExternalIdentityContactPoints,
    OrganizationContactPoints,
    PersonContactPoints,
    UserContactPoints,
)


def _clean_email(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None


def clean_person_contact_points(contact_points: PersonContactPoints) -> PersonContactPoints:
    """Blank email → absent; mobile normalised (`+47` for 8-digit 4x/9x, `00` → `+`), invalid → absent."""
    return replace(
        contact_points,
        email=_clean_email(contact_points.email),
        mobile_number=normalize_mobile_number(contact_points.mobile_number),
    )


def clean_external_identity_contact_points(
    contact_points: ExternalIdentityContactPoints,
) -> ExternalIdentityContactPoints:
    return replace(
        contact_points,
        email=_clean_email(contact_points.email),
        mobile_number=normalize_mobile_number(contact_points.mobile_number),
    )


def clean_organization_contact_points(contact_points: OrganizationContactPoints) -> OrganizationContactPoints:
    """Each address once per organisation (docs/compatibility.md C11 "Clean-up of org contact points").

    Official lists: mobiles normalised, invalid dropped, case-insensitively distinct; emails non-blank and
    case-insensitively distinct. Users: an email or mobile already seen for an earlier user or present in
    the official lists is blanked (numbers normalised first); users left with neither are dropped. Unlike
    the reference, an invalid user mobile is blanked too (it could never be delivered).
    """
    mobiles: list[str] = []
    seen_mobiles: set[str] = set()
    for raw in contact_points.mobile_numbers:
        number = normalize_mobile_number(raw)
        if number is not None and number.lower() not in seen_mobiles:
            seen_mobiles.add(number.lower())
            mobiles.append(number)

    emails: list[str] = []
    seen_emails: set[str] = set()
    for raw in contact_points.emails:
        email = _clean_email(raw)
        if email is not None and email.lower() not in seen_emails:
            seen_emails.add(email.lower())
            emails.append(email)

    official_emails = set(seen_emails)
    official_mobiles = set(seen_mobiles)
    user_emails: set[str] = set()
    user_mobiles: set[str] = set()
    users: list[UserContactPoints] = []
    for user in contact_points.user_contact_points:
        email = _clean_email(user.email)
        if email is not None:
            key = email.lower()
            if key in user_emails or key in official_emails:
                email = None
            user_emails.add(key)
        number = normalize_mobile_number(user.mobile_number)
        if number is not None:
            key = number.lower()
            if key in user_mobiles or key in official_mobiles:
                number = None
            user_mobiles.add(key)
        if email is not None or number is not None:
            users.append(replace(user, email=email, mobile_number=number))

    return replace(contact_points, emails=emails, mobile_numbers=mobiles, user_contact_points=users)


def merge_user_contact_points(
    official: Iterable[OrganizationContactPoints], users: Iterable[OrganizationContactPoints]
) -> list[OrganizationContactPoints]:
    """Add (authorised) user contact points to the official entries, matching org numbers
    case-insensitively; an organisation known only through its users gets an entry of its own."""
    merged: dict[str, OrganizationContactPoints] = {}
    for entry in itertools.chain(official, users):
        key = entry.organization_number.strip().lower()
        if key in merged:
            existing = merged[key]
            merged[key] = replace(
                existing, user_contact_points=[*existing.user_contact_points, *entry.user_contact_points]
            )
        else:
            merged[key] = entry
    return list(merged.values())

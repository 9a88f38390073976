"""Validation of registry entries, one row at a time; messages name the path, never the value."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time
from typing import Any

from altinn_notifications.recipients.addresses import (
    is_external_identity,
    is_national_identity_number,
    is_organization_number,
    is_valid_email,
    normalize_mobile_number,
)
from altinn_notifications.recipients.repository import (
    RegistryExternalIdentity,
    RegistryOrganization,
    RegistryOrgUser,
    RegistryPerson,
)


class _Row:
    """Collects the field errors of one row."""

    def __init__(self, path: str, data: Any) -> None:
        self.path = path
        self.errors: list[str] = []
        self.data: dict[str, Any] = data if isinstance(data, dict) else {}
        if not isinstance(data, dict):
            self.errors.append(f"{path}: must be an object")

    def error(self, name: str, message: str) -> None:
        self.errors.append(f"{self.path}.{name}: {message}")

    def optional_text(self, name: str) -> str | None:
        value = self.data.get(name)
        if value is None:
            return None
        if not isinstance(value, str):
            self.error(name, "must be a string")
            return None
        return value.strip() or None

    def nin(self, name: str, *, required: bool) -> str | None:
        value = self.data.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                self.error(name, "is required")
            return None
        if not isinstance(value, str) or not is_national_identity_number(value.strip()):
            self.error(name, "must be 11 digits")
            return None
        return value.strip()

    def organization_number(self, name: str) -> str | None:
        value = self.data.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            self.error(name, "is required")
            return None
        if not isinstance(value, str) or not is_organization_number(value.strip()):
            self.error(name, "must be 9 digits")
            return None
        return value.strip()

    def email(self, name: str) -> str | None:
        value = self.optional_text(name)
        if value is not None and not is_valid_email(value):
            self.error(name, "not a valid email address")
            return None
        return value

    def mobile(self, name: str) -> str | None:
        value = self.optional_text(name)
        if value is not None and normalize_mobile_number(value) is None:
            self.error(name, "not a valid mobile number")
            return None
        return value

    def boolean(self, name: str) -> bool:
        value = self.data.get(name)
        if value is None:
            return False
        if not isinstance(value, bool):
            self.error(name, "must be true or false")
            return False
        return value

    def timestamp(self, name: str) -> datetime | None:
        value = self.data.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        parsed = _parse_timestamp(value) if isinstance(value, str) else None
        if parsed is None:
            self.error(name, "must be an ISO 8601 date or date-time")
        return parsed

    def text_list(
        self, name: str, check: Callable[[str], bool] | None = None, message: str = ""
    ) -> list[str]:
        value = self.data.get(name)
        if value is None:
            return []
        if not isinstance(value, list):
            self.error(name, "must be a list")
            return []
        result: list[str] = []
        for index, item in enumerate(value):
            if not isinstance(item, str) or not item.strip():
                self.error(f"{name}[{index}]", "must be a non-empty string")
            elif check is not None and not check(item.strip()):
                self.error(f"{name}[{index}]", message)
            else:
                result.append(item.strip())
        return result

    def user_id(self, name: str) -> int | None:
        value = self.data.get(name)
        if value is None:
            self.error(name, "is required")
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0 or value >= 2**63:
            self.error(name, "must be a positive integer")
            return None
        return value


def _parse_timestamp(value: str) -> datetime | None:
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        try:
            parsed = datetime.combine(date.fromisoformat(text), time())
        except ValueError:
            return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def validate_person(data: Any, path: str) -> tuple[RegistryPerson | None, list[str]]:
    row = _Row(path, data)
    if row.errors:
        return None, row.errors
    nin = row.nin("nationalIdentityNumber", required=True)
    person = RegistryPerson(
        national_identity_number=nin or "",
        name=row.optional_text("name"),
        email=row.email("email"),
        mobile_number=row.mobile("mobileNumber"),
        is_reserved=row.boolean("isReserved"),
        last_verified=row.timestamp("lastVerified"),
    )
    return (None, row.errors) if row.errors else (person, [])


def validate_organization(data: Any, path: str) -> tuple[RegistryOrganization | None, list[str]]:
    """The organisation's own fields (its `users` are validated one by one)."""
    row = _Row(path, data)
    if row.errors:
        return None, row.errors
    number = row.organization_number("organizationNumber")
    organization = RegistryOrganization(
        organization_number=number or "",
        name=row.optional_text("name"),
        emails=row.text_list("emails", is_valid_email, "not a valid email address"),
        mobile_numbers=row.text_list(
            "mobileNumbers", lambda m: normalize_mobile_number(m) is not None, "not a valid mobile number"
        ),
    )
    return (None, row.errors) if row.errors else (organization, [])


def validate_user(data: Any, path: str, organization_number: str) -> tuple[RegistryOrgUser | None, list[str]]:
    row = _Row(path, data)
    if row.errors:
        return None, row.errors
    user_id = row.user_id("userId")
    user = RegistryOrgUser(
        organization_number=organization_number,
        user_id=user_id or 0,
        national_identity_number=row.nin("nationalIdentityNumber", required=False),
        email=row.email("email"),
        mobile_number=row.mobile("mobileNumber"),
        resources=row.text_list("resources"),
    )
    return (None, row.errors) if row.errors else (user, [])


def validate_external_identity(data: Any, path: str) -> tuple[RegistryExternalIdentity | None, list[str]]:
    row = _Row(path, data)
    if row.errors:
        return None, row.errors
    value = row.data.get("externalIdentity")
    identity: str | None = None
    if value is None or (isinstance(value, str) and not value.strip()):
        row.error("externalIdentity", "is required")
    elif not isinstance(value, str) or not is_external_identity(value):
        row.error("externalIdentity", "not a valid external identity URN")
    else:
        identity = value.strip()
    external = RegistryExternalIdentity(
        external_identity=identity or "", email=row.email("email"), mobile_number=row.mobile("mobileNumber")
    )
    return (None, row.errors) if row.errors else (external, [])

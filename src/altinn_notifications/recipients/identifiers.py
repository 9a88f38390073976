"""Identifier rules shared by the contact-register adapters."""

from __future__ import annotations

RESOURCE_PREFIX = "urn:altinn:resource:"


def is_present(value: str | None) -> bool:
    """Given and not blank."""
    return value is not None and value.strip() != ""


def sanitize_resource_id(resource_id: str | None) -> str:
    """Trim and strip the `urn:altinn:resource:` prefix (what Profile and the PDP expect); '' if none."""
    value = (resource_id or "").strip()
    if value.lower().startswith(RESOURCE_PREFIX):
        value = value[len(RESOURCE_PREFIX) :].strip()
    return value

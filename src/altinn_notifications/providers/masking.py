"""Addresses as they may appear in logs: enough to recognise, not enough to identify (docs/compatibility.md C2)."""

from __future__ import annotations


def mask_email(address: str | None) -> str:
    """`ola.nordmann@example.no` → `ol***@example.no` (the reference's delivery-report metrics format)."""
    if not address:
        return ""
    local, at, domain = address.strip().rpartition("@")
    if not at:
        return "***"
    return f"{local[:2]}***@{domain}"


def mask_phone(number: str | None) -> str:
    """`+4799887766` → `+47******66`: country prefix and the last two digits only."""
    if not number:
        return ""
    compact = "".join(number.split())
    if len(compact) <= 5:
        return "***"
    head = 3 if compact.startswith("+") else 2
    return compact[:head] + "*" * (len(compact) - head - 2) + compact[-2:]

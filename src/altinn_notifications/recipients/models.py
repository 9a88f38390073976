"""Contact points as the registers answer them (docs/compatibility.md C11) and the registration lookup summary."""

from __future__ import annotations

from dataclasses import dataclass, field

from altinn_notifications.vocabulary import RecipientLookupStatus


@dataclass(frozen=True)
class PersonContactPoints:
    national_identity_number: str
    email: str | None = None
    mobile_number: str | None = None
    is_reserved: bool = False
    user_id: int | None = None


@dataclass(frozen=True)
class UserContactPoints:
    user_id: int
    national_identity_number: str | None = None
    email: str | None = None
    mobile_number: str | None = None
    is_reserved: bool = False


@dataclass(frozen=True)
class OrganizationContactPoints:
    organization_number: str
    party_id: int | None = None
    emails: list[str] = field(default_factory=list)
    mobile_numbers: list[str] = field(default_factory=list)
    user_contact_points: list[UserContactPoints] = field(default_factory=list)


@dataclass(frozen=True)
class ExternalIdentityContactPoints:
    external_identity: str
    email: str | None = None
    mobile_number: str | None = None


@dataclass(frozen=True)
class RecipientLookupResult:
    """The `recipientLookup` of a v1 create response (docs/compatibility.md C4)."""

    status: RecipientLookupStatus
    is_reserved: list[str] = field(default_factory=list)
    missing_contact: list[str] = field(default_factory=list)


@dataclass
class ResolvedRecipient:
    """A recipient at send time with every address it is to be notified on (docs/compatibility.md C10, C11).

    Identity fields come from the order; `emails`/`mobile_numbers` are the caller-supplied addresses
    plus the looked-up ones that apply to the order's channel (already normalised and de-duplicated).
    """

    national_identity_number: str | None = None
    organization_number: str | None = None
    external_identity: str | None = None
    emails: list[str] = field(default_factory=list)
    mobile_numbers: list[str] = field(default_factory=list)
    is_reserved: bool | None = None

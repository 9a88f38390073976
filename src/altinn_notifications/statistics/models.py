"""Shapes of the statistics (docs/compatibility.md C17): monthly counts per org, daily per-notification rows, an export file."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime
from uuid import UUID


@dataclass(frozen=True)
class OrgMonthlyMetrics:
    """One row of the monthly table (`get_metrics_v2`): orders by requested send time in the month."""

    org: str
    placed_orders: int
    emails_created: int
    emails_succeeded: int  # Succeeded + Delivered
    sms_created: int
    sms_succeeded: int  # Accepted + Delivered


@dataclass(frozen=True)
class MonthlyMetrics:
    month: int
    year: int
    orgs: list[OrgMonthlyMetrics]


@dataclass(frozen=True)
class SmsMetricsRow:
    """An SMS notification in a final state, with its order's data (`sms_metrics_recent`)."""

    sms_id: int
    shipment_id: UUID
    senders_reference: str | None
    requested_send_time: datetime
    creator_name: str
    resource_id: str | None
    result: str
    gateway_reference: str | None
    mobile_number: str
    sms_count: int
    body_length: int | None
    custom_body_length: int | None


@dataclass(frozen=True)
class EmailMetricsRow:
    """An email notification in a final state, with its order's data (`email_metrics_recent`)."""

    email_id: int
    shipment_id: UUID
    senders_reference: str | None
    requested_send_time: datetime
    creator_name: str
    resource_id: str | None
    result: str
    operation_id: str | None


class ExportKind(enum.StrEnum):
    sms = "sms"
    email = "email"


@dataclass(frozen=True)
class ParquetExport:
    """A generated daily file and the facts sent along with it as headers."""

    kind: ExportKind
    day: date
    environment: str
    content: bytes
    file_hash: str  # base64 of the MD5 of `content`
    row_count: int
    generated_at: datetime

    @property
    def file_name(self) -> str:
        return f"{self.day:%Y%m%d}_{self.kind.value}_notifications_{self.environment}.parquet"

    @property
    def file_size(self) -> int:
        return len(self.content)

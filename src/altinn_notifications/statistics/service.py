"""Statistics rules (docs/compatibility.md C17): the monthly page, the daily Parquet exports and their API key.

The daily exports cover *yesterday* (UTC) and hold one row per notification in a final state; the file,
its name and its headers are those the reference's data-warehouse consumer expects.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import re
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from html import escape
from typing import Any
from urllib.parse import parse_qs, quote

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]
from pydantic import SecretStr

from altinn_notifications.db.pool import Connection
from altinn_notifications.errors import RequestValidationFailed
from altinn_notifications.statistics.models import (
    EmailMetricsRow,
    ExportKind,
    MonthlyMetrics,
    ParquetExport,
    SmsMetricsRow,
)
from altinn_notifications.statistics.repository import StatisticsRepository

EXPORT_BATCH_ROWS = 50_000

# --- the API key of the exports (reference: MetricsApiKeyFilter; every refusal is 401 {"error": ...}) ---

API_KEY_MISSING = "API key required for Metrics endpoints"
API_KEY_EMPTY = "API key cannot be empty"
API_KEY_NOT_CONFIGURED = "API key validation not configured"
API_KEY_INVALID = "Invalid API key"


def configured_api_key(settings: Any) -> str | None:
    """`NOTIFICATIONS_METRICS_API_KEY`; None (exports refused) when unset or blank."""
    value = getattr(settings, "metrics_api_key", None)
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if not isinstance(value, str) or not value.strip():
        return None
    return value


def environment_name(settings: Any) -> str:
    """`NOTIFICATIONS_ENVIRONMENT`, part of the file name and the `X-Environment` header."""
    value = getattr(settings, "environment_name", None)
    if not isinstance(value, str):
        return "local"
    return value or "Unknown"


def api_key_refusal(provided: str | None, configured: str | None) -> str | None:
    """Why the request is refused, in the reference's order of checks; None when the key is right."""
    if provided is None:
        return API_KEY_MISSING
    if not provided.strip():
        return API_KEY_EMPTY
    if configured is None:
        return API_KEY_NOT_CONFIGURED
    if not hmac.compare_digest(provided.encode(), configured.encode()):
        return API_KEY_INVALID
    return None


# --- daily Parquet exports ---

SMS_SCHEMA = pa.schema(
    [
        pa.field("SmsId", pa.int64(), nullable=False),
        pa.field("ShipmentId", pa.string()),
        pa.field("SendersReference", pa.string()),
        pa.field("RequestedSendTime", pa.string()),
        pa.field("CreatorName", pa.string()),
        pa.field("ResourceId", pa.string()),
        pa.field("Result", pa.string()),
        pa.field("GatewayReference", pa.string()),
        pa.field("Rate", pa.string()),
        pa.field("MobileNumberPrefix", pa.string()),
        pa.field("AltinnSmsCount", pa.int32(), nullable=False),
        pa.field("AltinnSmsBodyLength", pa.int32(), nullable=False),
        pa.field("AltinnSmsCustomBodyLength", pa.int32(), nullable=False),
    ]
)

EMAIL_SCHEMA = pa.schema(
    [
        pa.field("EmailId", pa.int64(), nullable=False),
        pa.field("ShipmentId", pa.string()),
        pa.field("SendersReference", pa.string()),
        pa.field("RequestedSendTime", pa.string()),
        pa.field("CreatorName", pa.string()),
        pa.field("ResourceId", pa.string()),
        pa.field("Result", pa.string()),
        pa.field("OperationId", pa.string()),
    ]
)

_DOMESTIC = re.compile(r"(\+|00) *47")


def sms_rate(mobile_number: str | None) -> str:
    """`innland` for a Norwegian number (`^(\\+|00) *47`), `utland` otherwise, `n/a` when there is none."""
    if not mobile_number:
        return "n/a"
    return "innland" if _DOMESTIC.match(mobile_number) else "utland"


def mobile_number_prefix(mobile_number: str | None) -> str:
    """The first four characters: the country code without exporting the number."""
    return (mobile_number or "")[:4]


def round_trip_time(moment: datetime) -> str:
    """UTC in .NET's round-trip format (`ToString("O")`): seven fractional digits and `Z`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def export_window(now: datetime) -> tuple[date, datetime, datetime]:
    """Yesterday (UTC) as a day and its half-open time window."""
    day = now.astimezone(UTC).date() - timedelta(days=1)
    start = datetime.combine(day, time.min, tzinfo=UTC)
    return day, start, start + timedelta(days=1)


def _sms_batch(rows: Sequence[SmsMetricsRow]) -> Any:
    return pa.RecordBatch.from_pydict(
        {
            "SmsId": [r.sms_id for r in rows],
            "ShipmentId": [str(r.shipment_id) for r in rows],
            "SendersReference": [r.senders_reference or "" for r in rows],
            "RequestedSendTime": [round_trip_time(r.requested_send_time) for r in rows],
            "CreatorName": [r.creator_name for r in rows],
            "ResourceId": [r.resource_id for r in rows],
            "Result": [r.result for r in rows],
            "GatewayReference": [r.gateway_reference or "" for r in rows],
            "Rate": [sms_rate(r.mobile_number) for r in rows],
            "MobileNumberPrefix": [mobile_number_prefix(r.mobile_number) for r in rows],
            "AltinnSmsCount": [r.sms_count for r in rows],
            "AltinnSmsBodyLength": [r.body_length or 0 for r in rows],
            "AltinnSmsCustomBodyLength": [r.custom_body_length or 0 for r in rows],
        },
        schema=SMS_SCHEMA,
    )


def _email_batch(rows: Sequence[EmailMetricsRow]) -> Any:
    return pa.RecordBatch.from_pydict(
        {
            "EmailId": [r.email_id for r in rows],
            "ShipmentId": [str(r.shipment_id) for r in rows],
            "SendersReference": [r.senders_reference or "" for r in rows],
            "RequestedSendTime": [round_trip_time(r.requested_send_time) for r in rows],
            "CreatorName": [r.creator_name for r in rows],
            "ResourceId": [r.resource_id for r in rows],
            "Result": [r.result for r in rows],
            "OperationId": [r.operation_id or "" for r in rows],
        },
        schema=EMAIL_SCHEMA,
    )


class _ParquetFile:
    """A Parquet file built in memory batch by batch; the CPU work runs off the event loop."""

    def __init__(self, schema: Any) -> None:
        self.sink = pa.BufferOutputStream()
        self.writer = pq.ParquetWriter(self.sink, schema, compression="snappy")
        self.rows = 0

    async def write(self, build: Any, rows: Sequence[Any]) -> None:
        def work() -> None:
            self.writer.write_batch(build(rows))

        await asyncio.to_thread(work)
        self.rows += len(rows)

    def close(self) -> bytes:
        self.writer.close()
        content: bytes = self.sink.getvalue().to_pybytes()
        return content


def _export(
    kind: ExportKind, day: date, environment: str, content: bytes, rows: int, now: datetime
) -> ParquetExport:
    digest = hashlib.md5(content, usedforsecurity=False).digest()
    return ParquetExport(
        kind=kind,
        day=day,
        environment=environment,
        content=content,
        file_hash=base64.b64encode(digest).decode("ascii"),
        row_count=rows,
        generated_at=now.astimezone(UTC),
    )


async def export_sms(conn: Connection, now: datetime, environment: str) -> ParquetExport:
    """Yesterday's SMS notifications in final states (not New, Sending or Accepted)."""
    day, start, end = export_window(now)
    parquet = _ParquetFile(SMS_SCHEMA)
    async for rows in StatisticsRepository(conn).sms_rows(start, end, EXPORT_BATCH_ROWS):
        await parquet.write(_sms_batch, rows)
    return _export(ExportKind.sms, day, environment, parquet.close(), parquet.rows, now)


async def export_email(conn: Connection, now: datetime, environment: str) -> ParquetExport:
    """Yesterday's email notifications in final states (not New, Sending or Succeeded)."""
    day, start, end = export_window(now)
    parquet = _ParquetFile(EMAIL_SCHEMA)
    async for rows in StatisticsRepository(conn).email_rows(start, end, EXPORT_BATCH_ROWS):
        await parquet.write(_email_batch, rows)
    return _export(ExportKind.email, day, environment, parquet.close(), parquet.rows, now)


def _header_safe(text: str) -> str:
    """Printable ASCII without quotes or backslashes (header values are Latin-1; names are config)."""
    return "".join(c if " " <= c <= "~" and c not in '"\\' else "_" for c in text)


def export_headers(export: ParquetExport) -> dict[str, str]:
    count = str(export.row_count)
    name = export.file_name
    return {
        "Content-Disposition": f"attachment; filename=\"{_header_safe(name)}\"; filename*=UTF-8''{quote(name)}",
        "X-File-Hash": export.file_hash,
        "X-File-Size": str(export.file_size),
        # The reference's documentation names the row count header `X-Total-FileTransferCount`; the reference's code sends
        # `X-Total-FileTransfer-Count`. Both are sent so that either reading works.
        "X-Total-FileTransferCount": count,
        "X-Total-FileTransfer-Count": count,
        "X-Generated-At": export.generated_at.isoformat(),
        "X-Environment": _header_safe(export.environment),
    }


# --- the monthly page ---

MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def parse_month_form(body: bytes) -> tuple[int, int]:
    """Form fields `month` (1-12) and `year`; 400 ValidationProblemDetails when either is not usable."""
    fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    errors: dict[str, list[str]] = {}
    values: dict[str, int] = {}
    for name, low, high in (("month", 1, 12), ("year", 1, 9999)):
        raw = (fields.get(name) or [""])[0]
        try:
            value = int(raw.strip())
        except ValueError:
            errors[name] = [f"The value '{raw}' is not valid for {name}."]
            continue
        if not low <= value <= high:
            errors[name] = [f"The {name} must be between {low} and {high}."]
            continue
        values[name] = value
    if errors:
        raise RequestValidationFailed(errors)
    return values["month"], values["year"]


def month_window(month: int, year: int) -> tuple[datetime, datetime]:
    start = datetime(year, month, 1, tzinfo=UTC)
    end = datetime(year + 1, 1, 1, tzinfo=UTC) if month == 12 else datetime(year, month + 1, 1, tzinfo=UTC)
    return start, end


async def monthly_metrics(conn: Connection, month: int, year: int) -> MonthlyMetrics:
    """Per org: orders whose requested send time is in the month, and their notifications."""
    start, end = month_window(month, year)
    orgs = await StatisticsRepository(conn).monthly(start, end)
    return MonthlyMetrics(month=month, year=year, orgs=orgs)


_STYLE = """
  body { font-family: sans-serif; margin: 2em; }
  h3, form { display: inline-block; vertical-align: middle; margin-right: 10px; }
  select, button { height: 40px; padding: 5px; }
  button { background-color: #4CAF50; color: #fff; border: none; border-radius: 4px; cursor: pointer; }
  table { width: 50%; margin-top: 20px; border-collapse: collapse; }
  th, td { padding: 10px; border: 1px solid #ddd; }
  th, tbody tr:nth-child(even) { background-color: #e6e6e6; }
  caption { caption-side: top; text-align: center; font-size: 26px; padding: 10px; }
"""

_COLUMNS = (
    "Organization",
    "Total orders",
    "Total email notifications",
    "Successful email notifications",
    "Total SMS notifications",
    "Successful SMS notifications",
)


def render_metrics_page(metrics: MonthlyMetrics | None, current_year: int) -> str:
    """The reference's metrics page: a month/year form and, after a POST, the table per org."""
    months = "".join(f'<option value="{i}">{name}</option>' for i, name in enumerate(MONTHS, start=1))
    years = "".join(f'<option value="{y}">{y}</option>' for y in range(current_year, current_year - 6, -1))
    parts = [
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n',
        f"<title>Altinn Notifications Metrics</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n",
        "<h2>Altinn Notifications Metrics</h2>\n",
        "<h3>Select month and year to see metrics:</h3>\n",
        '<form method="post">\n',
        f'<select id="month" name="month" required><option value="">Month</option>{months}</select>\n',
        f'<select id="year" name="year" required><option value="">Year</option>{years}</select>\n',
        '<button type="submit">Get metrics</button>\n</form>\n',
    ]
    if metrics is not None:
        period = f"{MONTHS[metrics.month - 1]} {metrics.year}"
        if metrics.orgs:
            head = "".join(f"<th>{c}</th>" for c in _COLUMNS)
            body = "".join(
                "<tr>"
                + "".join(
                    f"<td>{escape(str(v))}</td>"
                    for v in (
                        m.org,
                        m.placed_orders,
                        m.emails_created,
                        m.emails_succeeded,
                        m.sms_created,
                        m.sms_succeeded,
                    )
                )
                + "</tr>\n"
                for m in metrics.orgs
            )
            parts.append(
                f"<table>\n<caption>Metrics - {period}</caption>\n<thead><tr>{head}</tr></thead>\n"
                f"<tbody>\n{body}</tbody>\n</table>\n"
            )
        else:
            parts.append(f"<h3>No notification orders with requested send time in {period}</h3>\n")
    parts.append("</body>\n</html>\n")
    return "".join(parts)

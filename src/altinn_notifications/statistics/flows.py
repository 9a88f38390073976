"""Statistics flows: each opens the one short read transaction its answer needs."""

from __future__ import annotations

from datetime import datetime

from altinn_notifications.db.pool import Transaction
from altinn_notifications.statistics import service
from altinn_notifications.statistics.models import MonthlyMetrics, ParquetExport


async def monthly_page(transaction: Transaction, month: int, year: int, current_year: int) -> str:
    """The monthly metrics page for `month`/`year`, rendered."""
    async with transaction() as conn:
        metrics: MonthlyMetrics = await service.monthly_metrics(conn, month, year)
    return service.render_metrics_page(metrics, current_year)


async def daily_export(
    transaction: Transaction, channel: str, now: datetime, environment: str
) -> ParquetExport:
    """Yesterday's Parquet export of `channel` ('sms' or 'email')."""
    export = service.export_sms if channel == "sms" else service.export_email
    async with transaction() as conn:
        return await export(conn, now, environment)

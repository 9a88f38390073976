"""SQL of delivery reports waiting for their notification (`deliveryreportretries`) and of dead reports
(`deaddeliveryreports`, docs/compatibility.md C18)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from altinn_notifications.db.pool import Connection
from altinn_notifications.queue.repository import NOTIFICATION_TABLE, RESULT_TYPE, VENDOR_REFERENCE
from altinn_notifications.reports.models import CHANNEL_CODE, DeadReport, RetryRow, channel_of
from altinn_notifications.vocabulary import Channel, pending_results, sql_list


def _jsonb(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


#: The pending result a vendor reports first (accepted, not delivered yet): never applied twice.
_INTERMEDIATE: dict[Channel, str] = {"email": "Succeeded", "sms": "Accepted"}


class ReportRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # --- applying reports to their notifications, by vendor reference ---

    async def apply_reports(
        self, channel: Channel, reports: Sequence[tuple[str, str, dict[str, Any]]]
    ) -> tuple[list[int], dict[str, str]]:
        """Apply (reference, result, raw report) by vendor reference; guarded so a final result is never
        overwritten. Returns (order ids touched by a final result, {reference: why not applied}) where why is
        `not_found`, `expired` or `final` (a late duplicate, ignored)."""
        if not reports:
            return [], {}
        table, ref, rtype = NOTIFICATION_TABLE[channel], VENDOR_REFERENCE[channel], RESULT_TYPE[channel]
        refs = [r[0] for r in reports]
        rows = await self.conn.fetch(
            f"""
            WITH i AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) AS i(ref, result, report))
            UPDATE {table} n SET result = i.result::{rtype}, resulttime = now(), claimed_until = NULL,
                   deliveryreport = i.report::jsonb
            FROM i
            WHERE n.{ref} = i.ref AND n.expirytime > now() AND n.result IN {sql_list(pending_results(channel))}
              AND NOT (i.result = '{_INTERMEDIATE[channel]}' AND n.result = '{_INTERMEDIATE[channel]}')
            RETURNING n.{ref} AS ref, n._orderid, n.result::text AS result
            """,
            refs,
            [r[1] for r in reports],
            [json.dumps(r[2]) for r in reports],
        )
        applied = {r["ref"] for r in rows}
        orders = [r["_orderid"] for r in rows if r["result"] != _INTERMEDIATE[channel]]
        missing = [x for x in refs if x not in applied]
        reasons: dict[str, str] = {}
        if missing:
            found = await self.conn.fetch(
                f"""UPDATE {table} n SET deliveryreport = i.report::jsonb
                    FROM unnest($1::text[], $2::text[]) AS i(ref, report)
                    WHERE n.{ref} = i.ref
                    RETURNING n.{ref} AS ref, n.expirytime <= now() AS expired, n.result::text AS result""",
                missing,
                [json.dumps(r[2]) for r in reports if r[0] in set(missing)],
            )
            wanted = {r[0]: r[1] for r in reports}
            intermediate = _INTERMEDIATE[channel]
            pending = pending_results(channel)
            known: dict[str, str] = {}
            for r in found:
                if r["expired"]:
                    known[r["ref"]] = "expired"
                elif r["result"] in pending and not (r["result"] == wanted[r["ref"]] == intermediate):
                    # The send result committed between our two statements (this one has a fresh snapshot):
                    # the row still waits for this report, so it must be retried, not dropped as a duplicate.
                    known[r["ref"]] = "not_found"
                else:
                    known[r["ref"]] = "final"
            reasons = {x: known.get(x, "not_found") for x in missing}
        return orders, reasons

    # --- reports that overtook their send result: retried on a schedule ---

    async def schedule_retries(self, rows: Sequence[RetryRow]) -> None:
        if not rows:
            return
        await self.conn.execute(
            """INSERT INTO deliveryreportretries (channel, reference, result, deliveryreport, firstseen,
                                                  attemptcount, next_attempt_at)
               SELECT i.channel, i.reference, i.result, i.report::jsonb, i.firstseen, i.attempts,
                      now() + make_interval(secs => i.delay)
               FROM unnest($1::smallint[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::int[],
                           $7::float8[]) AS i(channel, reference, result, report, firstseen, attempts, delay)""",
            [CHANNEL_CODE[r.channel] for r in rows],
            [r.reference for r in rows],
            [r.result for r in rows],
            [json.dumps(r.raw) for r in rows],
            [r.first_seen for r in rows],
            [r.attempts for r in rows],
            [r.delay for r in rows],
        )

    async def take_due_retries(self, limit: int, now: datetime | None = None) -> list[RetryRow]:
        """Remove and return due rows, skipping rows another worker holds. The caller re-inserts what is still
        not found in the same transaction, so a rollback loses nothing. `now`: as in the queue's SQL."""
        rows = await self.conn.fetch(
            """WITH due AS (
                   SELECT id FROM deliveryreportretries WHERE next_attempt_at <= COALESCE($2::timestamptz, now())
                   ORDER BY next_attempt_at FOR UPDATE SKIP LOCKED LIMIT $1
               )
               DELETE FROM deliveryreportretries r USING due WHERE r.id = due.id
               RETURNING r.channel, r.reference, r.result, r.deliveryreport, r.firstseen, r.attemptcount""",
            limit,
            now,
        )
        return [
            RetryRow(
                channel=channel_of(r["channel"]),
                reference=r["reference"],
                result=r["result"],
                raw=_jsonb(r["deliveryreport"]),
                first_seen=r["firstseen"],
                attempts=r["attemptcount"],
            )
            for r in rows
        ]

    async def seconds_until_next_retry(self) -> float | None:
        value: float | None = await self.conn.fetchval(
            "SELECT EXTRACT(EPOCH FROM min(next_attempt_at) - now())::float8 FROM deliveryreportretries"
        )
        return value

    async def waiting_retries(self) -> int:
        count: int = await self.conn.fetchval("SELECT count(*) FROM deliveryreportretries")
        return count

    # --- dead reports ---

    async def add_dead(
        self,
        channel: Channel,
        report: dict[str, Any],
        *,
        attempts: int,
        first_seen: datetime,
        reason: str,
        message: str,
    ) -> int:
        new_id: int = await self.conn.fetchval(
            """INSERT INTO deaddeliveryreports (channel, deliveryreport, firstseen, lastattempt, resolved,
                                                attemptcount, reason, message)
               VALUES ($1, $2::jsonb, LEAST($3::timestamptz, now()), now(), false, $4, $5, $6)
               RETURNING id""",
            CHANNEL_CODE[channel],
            report,  # the pool's jsonb codec encodes it
            first_seen,
            max(1, attempts),
            reason,
            message,
        )
        return new_id

    async def list_dead(self, limit: int, *, include_resolved: bool = False) -> list[DeadReport]:
        rows = await self.conn.fetch(
            """SELECT id, channel, deliveryreport, firstseen, lastattempt, resolved, attemptcount, reason, message
               FROM deaddeliveryreports WHERE $2::boolean OR NOT resolved ORDER BY id DESC LIMIT $1""",
            limit,
            include_resolved,
        )
        return [_dead(r) for r in rows]

    async def lock_dead(self, ids: Sequence[int] | None, limit: int) -> list[DeadReport]:
        """Unresolved dead reports to replay (the given ids, or the oldest), locked for this transaction."""
        rows = await self.conn.fetch(
            """SELECT id, channel, deliveryreport, firstseen, lastattempt, resolved, attemptcount, reason, message
               FROM deaddeliveryreports
               WHERE NOT resolved AND ($1::bigint[] IS NULL OR id = ANY($1::bigint[]))
               ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED""",
            list(ids) if ids is not None else None,
            limit,
        )
        return [_dead(r) for r in rows]

    async def mark_replayed(self, ids: Sequence[int], *, resolved: bool) -> None:
        if ids:
            await self.conn.execute(
                """UPDATE deaddeliveryreports SET lastattempt = now(), attemptcount = attemptcount + 1,
                          resolved = $2 WHERE id = ANY($1::bigint[])""",
                list(ids),
                resolved,
            )


def _dead(r: Any) -> DeadReport:
    return DeadReport(
        id=r["id"],
        channel=channel_of(r["channel"]),
        report=_jsonb(r["deliveryreport"]),
        first_seen=r["firstseen"],
        last_attempt=r["lastattempt"],
        resolved=r["resolved"],
        attempts=r["attemptcount"],
        reason=r["reason"],
        message=r["message"],
    )

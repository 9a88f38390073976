"""vendor providers: report retries, ACS poll index, unresolved dead reports

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 09:00:00

- `deliveryreportretries`: delivery reports whose notification was not found yet, with the time of their
  next attempt (a worker loop replays them; after the schedule they become dead reports).
- `ix_emailnotifications_polling`: ACS operations still `Sending`, by next status-poll time.
- `ix_deaddeliveryreports_unresolved`: what the operator CLI lists and replays.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "deliveryreportretries",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("channel", sa.SmallInteger(), nullable=False),
        sa.Column("reference", sa.Text(), nullable=False),
        sa.Column("result", sa.Text(), nullable=False),
        sa.Column("deliveryreport", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("firstseen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attemptcount", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("attemptcount > 0", name="ck_deliveryreportretries_attemptcount"),
        sa.PrimaryKeyConstraint("id"),
        schema="notifications",
    )
    op.create_index(
        "ix_deliveryreportretries_due",
        "deliveryreportretries",
        ["next_attempt_at"],
        unique=False,
        schema="notifications",
    )
    op.create_index(
        "ix_emailnotifications_polling",
        "emailnotifications",
        ["next_attempt_at"],
        unique=False,
        schema="notifications",
        postgresql_where=sa.text("result = 'Sending' AND operationid IS NOT NULL"),
    )
    op.create_index(
        "ix_deaddeliveryreports_unresolved",
        "deaddeliveryreports",
        ["id"],
        unique=False,
        schema="notifications",
        postgresql_where=sa.text("NOT resolved"),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_deaddeliveryreports_unresolved",
        table_name="deaddeliveryreports",
        schema="notifications",
        postgresql_where=sa.text("NOT resolved"),
    )
    op.drop_index(
        "ix_emailnotifications_polling",
        table_name="emailnotifications",
        schema="notifications",
        postgresql_where=sa.text("result = 'Sending' AND operationid IS NOT NULL"),
    )
    op.drop_index("ix_deliveryreportretries_due", table_name="deliveryreportretries", schema="notifications")
    op.drop_table("deliveryreportretries", schema="notifications")

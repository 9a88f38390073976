"""Senders' rate-limit buckets and daily quotas

Revision ID: 0008_rate_limits
Revises: 0007_fair
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_rate_limits"
down_revision: str | None = "0007_fair"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "senderallowances",
        sa.Column("creatorname", sa.Text(), nullable=False),
        sa.Column("requesttokens", sa.Double(), nullable=False),
        sa.Column("notificationtokens", sa.Double(), nullable=False),
        sa.Column("refilledat", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("quotaday", sa.Date(), nullable=False),
        sa.Column("quotaused", sa.BigInteger(), nullable=False),
        sa.Column("allowed", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("creatorname"),
        schema="notifications",
    )


def downgrade() -> None:
    op.drop_table("senderallowances", schema="notifications")

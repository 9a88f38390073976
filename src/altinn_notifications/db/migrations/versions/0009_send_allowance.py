"""The send allowance of each channel, shared by every worker process (a token bucket per channel)

Revision ID: 0009_send_allowance
Revises: 0008_rate_limits
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_send_allowance"
down_revision: str | None = "0008_rate_limits"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sendallowance",
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("refilled_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("channel"),
        schema="notifications",
    )


def downgrade() -> None:
    op.drop_table("sendallowance", schema="notifications")

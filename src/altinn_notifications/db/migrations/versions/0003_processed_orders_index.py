"""Index of orders awaiting completion, by type (composed-email claim, completion sweep)

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_orders_processed_type",
        "orders",
        ["type", "_id"],
        schema="notifications",
        postgresql_where=sa.text("processedstatus = 'Processed'"),
    )


def downgrade() -> None:
    op.drop_index("ix_orders_processed_type", table_name="orders", schema="notifications")

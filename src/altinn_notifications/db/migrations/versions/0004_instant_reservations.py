"""Reservations of instant-order idempotency ids while their synchronous hand-off is in flight

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "instantreservations",
        sa.Column("creatorname", sa.Text(), nullable=False),
        sa.Column("idempotencyid", sa.Text(), nullable=False),
        sa.Column("holder", sa.UUID(), nullable=False),
        sa.Column("reserved_until", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("creatorname", "idempotencyid"),
        schema="notifications",
    )


def downgrade() -> None:
    op.drop_table("instantreservations", schema="notifications")

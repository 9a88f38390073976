"""Operator console: audit log, used one-time sign-in links; worker heartbeats

Revision ID: 0006_console
Revises: 0005_support_log
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_console"
down_revision: str | None = "0005_support_log"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.TIMESTAMP(timezone=True)


def upgrade() -> None:
    op.create_table(
        "consoleaudit",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("at", TZ, server_default=sa.text("now()"), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("target", sa.Text(), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        schema="notifications",
    )
    op.create_index("ix_consoleaudit_at", "consoleaudit", ["at"], schema="notifications")
    op.create_table(
        "consolesigninlinks",
        sa.Column("nonce", sa.Text(), nullable=False),
        sa.Column("used_at", TZ, server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("nonce"),
        schema="notifications",
    )
    op.create_table(
        "workerheartbeats",
        sa.Column("worker", sa.Text(), nullable=False),
        sa.Column("loop", sa.Text(), nullable=False),
        sa.Column("last_step", TZ, nullable=False),
        sa.Column("last_found", TZ, nullable=True),
        sa.PrimaryKeyConstraint("worker", "loop"),
        schema="notifications",
    )


def downgrade() -> None:
    op.drop_table("workerheartbeats", schema="notifications")
    op.drop_table("consolesigninlinks", schema="notifications")
    op.drop_index("ix_consoleaudit_at", table_name="consoleaudit", schema="notifications")
    op.drop_table("consoleaudit", schema="notifications")

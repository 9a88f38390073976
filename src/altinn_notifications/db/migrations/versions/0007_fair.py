"""Fair claims across creators, simulated delivery reports kept in the database, kept monthly statistics

- `ix_orders_due_creator`: the due orders of each creator, oldest first (the fair claim's index).
- `deliveryreportretries.attemptcount` may be 0: a report the simulated vendor will deliver later, not
  yet tried (it then goes the way of every vendor report).
- `monthlystatistics`: the monthly report's counts of orders deleted by the retention job.

Revision ID: 0007_fair
Revises: 0006_console
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_fair"
down_revision: str | None = "0006_console"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "notifications"


def upgrade() -> None:
    op.create_index(
        "ix_orders_due_creator",
        "orders",
        ["creatorname", "requestedsendtime", "_id"],
        schema=SCHEMA,
        postgresql_where=sa.text("processedstatus = 'Registered'"),
    )
    op.drop_constraint("ck_deliveryreportretries_attemptcount", "deliveryreportretries", schema=SCHEMA)
    op.create_check_constraint(
        "ck_deliveryreportretries_attemptcount", "deliveryreportretries", "attemptcount >= 0", schema=SCHEMA
    )
    op.create_table(
        "monthlystatistics",
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("creatorname", sa.Text(), nullable=False),
        sa.Column("placedorders", sa.BigInteger(), nullable=False, server_default=sa.text("0")),
        sa.Column("emailscreated", sa.BigInteger(), nullable=False, server_default=sa.text("0")),
        sa.Column("emailssucceeded", sa.BigInteger(), nullable=False, server_default=sa.text("0")),
        sa.Column("smscreated", sa.BigInteger(), nullable=False, server_default=sa.text("0")),
        sa.Column("smssucceeded", sa.BigInteger(), nullable=False, server_default=sa.text("0")),
        sa.PrimaryKeyConstraint("month", "creatorname"),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("monthlystatistics", schema=SCHEMA)
    op.execute(f"DELETE FROM {SCHEMA}.deliveryreportretries WHERE attemptcount = 0")
    op.drop_constraint("ck_deliveryreportretries_attemptcount", "deliveryreportretries", schema=SCHEMA)
    op.create_check_constraint(
        "ck_deliveryreportretries_attemptcount", "deliveryreportretries", "attemptcount > 0", schema=SCHEMA
    )
    op.drop_index("ix_orders_due_creator", table_name="orders", schema=SCHEMA)

"""monitor decisions, and the as-of day of promotion decisions

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 03:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "monitor_decisions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("as_of_date", sa.Date(), nullable=False),
        sa.Column("model_name", sa.String(length=128), nullable=False),
        sa.Column("model_run_id", sa.String(length=64), nullable=True),
        sa.Column("decision", sa.String(length=24), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("statistics", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("model_name", "as_of_date", name="uq_monitor_decision"),
    )
    with op.batch_alter_table("model_promotions") as batch_op:
        batch_op.add_column(sa.Column("as_of_date", sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("model_promotions") as batch_op:
        batch_op.drop_column("as_of_date")
    op.drop_table("monitor_decisions")

"""prediction history: predictions replaced by a same-day rerun (`predict --replace`) are kept

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 03:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "prediction_history",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("model_run_id", sa.String(length=64), nullable=False),
        sa.Column("model_version", sa.String(length=16), nullable=True),
        sa.Column("ticker", sa.String(length=16), nullable=False),
        sa.Column("as_of_date", sa.Date(), nullable=False),
        sa.Column("target_date", sa.Date(), nullable=False),
        sa.Column("last_close", sa.Double(), nullable=False),
        sa.Column("predicted_close", sa.Double(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("replaced_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("prediction_history")

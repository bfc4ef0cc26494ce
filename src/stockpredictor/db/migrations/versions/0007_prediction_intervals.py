"""prediction intervals: volatility and interval bounds on every forecast; their online calibration

Revision ID: 0007
Revises: 0005
Create Date: 2026-12-07 06:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0005"
branch_labels = None
depends_on = None

_COLUMNS: tuple[tuple[str, sa.types.TypeEngine[object]], ...] = (
    ("volatility", sa.Double()),
    ("intervals", sa.JSON()),
    ("baseline_volatility", sa.JSON()),
)


def upgrade() -> None:
    for table in ("latest_predictions", "prediction_history"):
        with op.batch_alter_table(table) as batch:
            for name, kind in _COLUMNS:
                batch.add_column(sa.Column(name, kind, nullable=True))
    op.create_table(
        "interval_calibration",
        sa.Column("model_name", sa.String(length=128), nullable=False),
        sa.Column("model_version", sa.String(length=16), nullable=False),
        sa.Column("ticker", sa.String(length=16), nullable=False),
        sa.Column("level", sa.Double(), nullable=False),
        sa.Column("through_date", sa.Date(), nullable=False),
        sa.Column("multiplier", sa.Double(), nullable=False),
        sa.Column("n_updates", sa.Integer(), nullable=False),
        sa.Column("recalibrated_on", sa.Date(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("model_name", "model_version", "ticker", "level", "through_date"),
    )


def downgrade() -> None:
    op.drop_table("interval_calibration")
    for table in ("latest_predictions", "prediction_history"):
        with op.batch_alter_table(table) as batch:
            for name, _ in reversed(_COLUMNS):
                batch.drop_column(name)

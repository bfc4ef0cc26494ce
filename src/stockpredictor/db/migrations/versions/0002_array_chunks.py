"""array chunks: dataset arrays move from bytea/blob columns to a chunk table (no size ceiling)

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 03:15:00

Upgrade moves every stored `.npy` column into `dataset_arrays` (its header) and
`dataset_array_chunks` (its data), one dataset at a time, then drops the columns; downgrade
joins them back. On SQLite the columns are dropped and re-added with ALTER TABLE (never a
batch table copy: dropping a parent table with foreign keys on would cascade-delete its
children), so after a downgrade they are nullable there.
"""

import sqlalchemy as sa
from alembic import op

from stockpredictor.db.codec import npy_split

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_CHUNK_BYTES = 8 * 2**20
_COLUMNS = {
    "processed_feature_data": ("dates", "features", "close", "targets"),
    "scaled_feature_sets": ("x_scaled", "y_scaled"),
}
_arrays = sa.table(
    "dataset_arrays",
    sa.column("dataset_run_id", sa.String),
    sa.column("name", sa.String),
    sa.column("npy_header", sa.LargeBinary),
    sa.column("nbytes", sa.BigInteger),
    sa.column("n_chunks", sa.Integer),
)
_chunks = sa.table(
    "dataset_array_chunks",
    sa.column("dataset_run_id", sa.String),
    sa.column("name", sa.String),
    sa.column("chunk", sa.Integer),
    sa.column("data", sa.LargeBinary),
)


def _owner(table: str, names: tuple[str, ...]) -> sa.TableClause:
    blobs = (sa.column(name, sa.LargeBinary) for name in names)
    return sa.table(table, sa.column("dataset_run_id", sa.String), *blobs)


def upgrade() -> None:
    op.create_table(
        "dataset_arrays",
        sa.Column("dataset_run_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("npy_header", sa.LargeBinary(), nullable=False),
        sa.Column("nbytes", sa.BigInteger(), nullable=False),
        sa.Column("n_chunks", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_run_id"], ["processed_feature_data.dataset_run_id"], ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("dataset_run_id", "name"),
    )
    op.create_table(
        "dataset_array_chunks",
        sa.Column("dataset_run_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("chunk", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_run_id", "name"],
            ["dataset_arrays.dataset_run_id", "dataset_arrays.name"],
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("dataset_run_id", "name", "chunk"),
    )
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":  # chunks are incompressible floats: skip TOAST compression
        op.execute("ALTER TABLE dataset_array_chunks ALTER COLUMN data SET STORAGE EXTERNAL")
    for table, names in _COLUMNS.items():
        owner = _owner(table, names)
        for run_id in bind.execute(sa.select(owner.c.dataset_run_id)).scalars().all():
            row = bind.execute(sa.select(owner).where(owner.c.dataset_run_id == run_id)).one()
            for name in names:
                _move_to_chunks(bind, run_id, name, bytes(getattr(row, name)))
        for name in names:
            op.drop_column(table, name)


def _move_to_chunks(bind: sa.Connection, run_id: str, name: str, payload: bytes) -> None:
    header, data = npy_split(payload)
    pieces = [data[start : start + _CHUNK_BYTES] for start in range(0, len(data), _CHUNK_BYTES)]
    bind.execute(
        sa.insert(_arrays).values(
            dataset_run_id=run_id, name=name, npy_header=header, nbytes=len(data), n_chunks=len(pieces)
        )
    )
    if pieces:
        bind.execute(
            sa.insert(_chunks),
            [{"dataset_run_id": run_id, "name": name, "chunk": i, "data": p} for i, p in enumerate(pieces)],
        )


def downgrade() -> None:
    bind = op.get_bind()
    for table, names in _COLUMNS.items():
        for name in names:
            op.add_column(table, sa.Column(name, sa.LargeBinary(), nullable=True))
        owner = _owner(table, names)
        for run_id in bind.execute(sa.select(owner.c.dataset_run_id)).scalars().all():
            values = {name: _joined(bind, run_id, name) for name in names}
            bind.execute(sa.update(owner).where(owner.c.dataset_run_id == run_id).values(**values))
        if bind.dialect.name == "postgresql":
            for name in names:
                op.alter_column(table, name, nullable=False)
    op.drop_table("dataset_array_chunks")
    op.drop_table("dataset_arrays")


def _joined(bind: sa.Connection, run_id: str, name: str) -> bytes:
    header = bind.execute(
        sa.select(_arrays.c.npy_header).where(_arrays.c.dataset_run_id == run_id, _arrays.c.name == name)
    ).scalar_one()
    pieces = bind.execute(
        sa.select(_chunks.c.data)
        .where(_chunks.c.dataset_run_id == run_id, _chunks.c.name == name)
        .order_by(_chunks.c.chunk)
    ).scalars()
    return b"".join([bytes(header), *(bytes(p) for p in pieces)])

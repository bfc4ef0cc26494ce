"""Alembic environment: runs on the connection handed over by `stockpredictor.db.engine.migrate`."""

from alembic import context
from sqlalchemy import Connection, create_engine

from stockpredictor.db.engine import VERSION_TABLE
from stockpredictor.db.schema import metadata

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    with create_engine(config.get_main_option("sqlalchemy.url") or "").begin() as conn:
        _run(conn)

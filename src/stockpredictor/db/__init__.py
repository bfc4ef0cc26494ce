"""Storage: one schema (schema.py), migrated by Alembic, the same on SQLite and PostgreSQL."""

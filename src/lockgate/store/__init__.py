"""Persistence: SQLAlchemy Core tables, repositories per aggregate, Alembic migrations."""

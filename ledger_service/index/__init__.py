"""The SQL index (SQLAlchemy 2, Alembic): SQLite by default, PostgreSQL by URL."""

from ledger_service.index.db import engine_from_url, migrate, session_factory

__all__ = ["engine_from_url", "migrate", "session_factory"]

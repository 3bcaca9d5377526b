"""Engines, sessions and migrations of the SQL index. SQLite by default; PostgreSQL by URL."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).parent / "migrations"


def engine_from_url(url: str) -> Engine:
    """An engine for `url` (sqlite:///path or postgresql+psycopg://...)."""
    engine = create_engine(url, future=True)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")  # readers do not block the writer
            cursor.execute("PRAGMA synchronous=NORMAL")  # with WAL: durable across crashes of the process
            cursor.execute("PRAGMA busy_timeout=30000")  # writers from several threads wait their turn
            cursor.close()

    return engine


def migrate(engine: Engine) -> None:
    """Bring the schema to the latest revision (idempotent)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def session_factory(engine: Engine, at_rest_key: bytes | None = None) -> sessionmaker[Session]:
    """Sessions over `engine`; with `at_rest_key`, they seal and open confidential records (index/sealing.py)."""
    info = {"at_rest_key": at_rest_key} if at_rest_key is not None else {}
    return sessionmaker(engine, expire_on_commit=False, info=info)

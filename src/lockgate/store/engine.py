"""Opening the database and bringing its schema to the newest migration.

A SQLite store holds every secret Lockgate keeps (sealed) and every audit entry, so its database,
WAL (``-wal``) and shared-memory (``-shm``) files are readable and writable by their owner only:
before each connection the database file is created ``0600`` when missing (SQLite gives the WAL
and shared-memory files the database file's mode) and any of the three found looser is tightened.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

from lockgate.store.vault_keys import verify_key_ring
from lockgate.vault import Vault

MIGRATIONS = Path(__file__).with_name("migrations")
OWNER_ONLY = 0o600
SQLITE_COMPANIONS = ("", "-wal", "-shm")
"""Suffixes of the files of a SQLite database in WAL mode (sqlite.org/wal.html, "The WAL File")."""


def normalize_url(url: str) -> str:
    """Use the psycopg 3 driver for ``postgresql://`` URLs; other URLs are returned unchanged."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return url


def open_engine(url: str) -> Engine:
    """An engine for ``url``. SQLite gets WAL, a busy timeout and foreign keys, so the CLI can write
    while a server reads and the audit writer appends."""
    engine = create_engine(normalize_url(url), pool_pre_ping=True)
    if engine.dialect.name == "sqlite":
        database = engine.url.database
        if database and database != ":memory:" and not database.startswith("file:"):
            event.listen(engine, "do_connect", lambda *_: protect_sqlite_files(Path(database)))
        event.listen(engine, "connect", _configure_sqlite)
        event.listen(engine, "begin", _begin_sqlite)
    return engine


def protect_sqlite_files(database: Path) -> None:
    """Create the SQLite ``database`` file owner-only when missing, and make it, its WAL and its
    shared-memory file owner-only where they are not. Raises OSError (say, the directory is
    missing, or the files belong to someone else)."""
    if not database.exists():
        os.close(os.open(database, os.O_RDWR | os.O_CREAT, OWNER_ONLY))
    for suffix in SQLITE_COMPANIONS:
        path = database.with_name(database.name + suffix)
        if path.exists() and path.stat().st_mode & 0o777 != OWNER_ONLY:
            path.chmod(OWNER_ONLY)


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
    # pysqlite opens transactions itself, too late for SAVEPOINT: a savepoint taken first would be
    # the outermost transaction and its RELEASE would commit. SQLAlchemy emits BEGIN instead
    # (SQLAlchemy's documented recipe, "Serializable isolation / Savepoints / Transactional DDL").
    dbapi_connection.isolation_level = None


def _begin_sqlite(connection: Any) -> None:
    # IMMEDIATE takes the write lock up front: two deferred transactions that both read and then
    # write would deadlock on the upgrade, and SQLite answers that at once with "database is
    # locked" instead of waiting out the busy timeout.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def _alembic_config(engine: Engine, vault: Vault | None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    config.attributes["vault"] = vault
    return config


def upgrade(engine: Engine, vault: Vault) -> bool:
    """Apply pending migrations, then check that ``vault`` holds the keys the store was sealed with
    (recording the versions it adds). Returns True when any migrations were applied.

    Raises:
        VaultError: the key ring lacks a version the store uses, or holds a different key under it.
    """
    changed = _migrate(engine, vault)
    with engine.begin() as conn:
        verify_key_ring(conn, vault)
    return changed


def _migrate(engine: Engine, vault: Vault) -> bool:
    config = _alembic_config(engine, vault)
    head = ScriptDirectory.from_config(config).get_current_head()
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    if current == head:
        return False
    command.upgrade(config, "head")
    return True

"""Opening the store: a SQLite database, its WAL and its shared-memory file are readable by their
owner only, whatever the umask, and a data directory is the owner's alone."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from lockgate.settings import Settings
from lockgate.store.engine import open_engine

FILES = ("lockgate.db", "lockgate.db-wal", "lockgate.db-shm")


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def modes(directory: Path) -> dict[str, int]:
    return {name: os.stat(directory / name).st_mode & 0o777 for name in FILES}


@pytest.mark.usefixtures("permissive_umask")
def test_a_new_sqlite_store_its_wal_and_its_shared_memory_are_owner_only(tmp_path: Path) -> None:
    engine = open_engine(f"sqlite:///{tmp_path / 'lockgate.db'}")
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (x INTEGER)"))
            conn.execute(text("INSERT INTO t VALUES (1)"))
        with engine.connect():  # the WAL and shared-memory files exist while a connection is open
            assert modes(tmp_path) == dict.fromkeys(FILES, 0o600)
    finally:
        engine.dispose()


@pytest.mark.usefixtures("permissive_umask")
def test_a_store_left_readable_by_others_is_made_owner_only_when_opened(tmp_path: Path) -> None:
    left = sqlite3.connect(tmp_path / "lockgate.db")
    left.execute("PRAGMA journal_mode=WAL")
    left.execute("CREATE TABLE t (x INTEGER)")
    left.commit()
    assert modes(tmp_path) == dict.fromkeys(FILES, 0o644)
    engine = open_engine(f"sqlite:///{tmp_path / 'lockgate.db'}")
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 0
            assert modes(tmp_path) == dict.fromkeys(FILES, 0o600)
    finally:
        engine.dispose()
        left.close()


@pytest.mark.usefixtures("permissive_umask")
def test_a_data_directory_is_made_owners_only(tmp_path: Path) -> None:
    new, existing = tmp_path / "new" / "data", tmp_path / "existing"
    existing.mkdir(mode=0o755)
    for data_dir in (new, existing):
        Settings(data_dir=data_dir).ensure_data_dir()
        assert os.stat(data_dir).st_mode & 0o777 == 0o700

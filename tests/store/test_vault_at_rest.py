"""Secrets at rest: a dump of the database holds none of them in plaintext, and after
``lockgate vault rotate`` every one still opens and is wrapped by the new key version."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from lockgate.cli import app
from lockgate.domain.declaration import Declaration
from lockgate.domain.model import Availability, IdentityKind
from lockgate.settings import Settings
from lockgate.store.declarative import apply_declaration
from lockgate.store.identities import create_identity, open_identity_secret, save_oauth_tokens
from lockgate.store.people import ensure_user
from lockgate.store.schema import identities, metadata, servers
from lockgate.store.servers import load_config
from lockgate.store.vault_keys import count_by_version
from lockgate.vault import Vault
from lockgate.vault.keys import parse_key_ring
from tests.conftest import TEST_MASTER_KEY, TEST_VAULT

PLANTED = {
    "header": "planted-header-secret-8f2a",
    "env": "planted-env-secret-91cc",
    "identity": "planted-identity-secret-4d7e",
    "access": "planted-access-token-77b1",
    "refresh": "planted-refresh-token-0a3f",
}


def _plant(engine: Engine) -> None:
    apply_declaration(
        engine,
        TEST_VAULT,
        Declaration.model_validate(
            {
                "servers": [
                    {"name": "remote", "transport": "http", "url": "http://127.0.0.1:9/mcp",
                     "headers": {"Authorization": f"Bearer {PLANTED['header']}"}},
                    {"name": "local", "transport": "stdio", "command": "true",
                     "env": {"API_KEY": PLANTED["env"]}},
                ]
            }
        ),
    )  # fmt: skip
    with engine.begin() as conn:
        server_id = conn.execute(select(servers.c.id).where(servers.c.name == "remote")).scalar_one()
        owner = ensure_user(conn, "alice@example.com")
        create_identity(
            conn, TEST_VAULT, name="alice/remote", server_id=server_id, owner_id=owner,
            kind=IdentityKind.HEADERS, availability=Availability.PRIVATE,
            headers={"X-Api-Key": PLANTED["identity"]},
        )  # fmt: skip
        oauth = create_identity(
            conn, TEST_VAULT, name="alice/oauth", server_id=server_id, owner_id=owner,
            kind=IdentityKind.OAUTH, availability=Availability.PRIVATE,
        )  # fmt: skip
        save_oauth_tokens(
            conn, TEST_VAULT, oauth.id, access_token=PLANTED["access"], token_type="Bearer",
            refresh_token=PLANTED["refresh"], expires_at=None, scope="read", oauth_client_id=None,
        )  # fmt: skip


def _dump(engine: Engine, database_url: str) -> bytes:
    """What an attacker with a copy of the database reads: the files and a full SQL dump."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        engine.dispose()
        path = Path(str(url.database))
        files = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
        with sqlite3.connect(path) as conn:
            return files + "\n".join(conn.iterdump()).encode()
    if shutil.which("pg_dump"):
        dumped = subprocess.run(
            ["pg_dump", "--data-only", url.set(drivername="postgresql").render_as_string(False)],
            capture_output=True,
            check=True,
        )
        return dumped.stdout
    with engine.connect() as conn:  # no pg_dump here: every row of every table, as text
        return "\n".join(
            repr(row) for table in metadata.sorted_tables for row in conn.execute(select(table))
        ).encode()


def test_a_dump_of_the_database_holds_no_planted_secret(engine: Engine, database_url: str) -> None:
    _plant(engine)
    dump = _dump(engine, database_url)
    assert b"lgv1." in dump  # the sealed values are there ...
    for secret in PLANTED.values():
        assert secret.encode() not in dump  # ... and not one secret in plaintext


def _everything_opened(engine: Engine, vault: Vault) -> set[str]:
    seen: set[str] = set()
    with engine.connect() as conn:
        for row in conn.execute(select(servers)):
            config = load_config(row, vault)
            seen.update((config.get("headers") or {}).values())
            seen.update((config.get("env") or {}).values())
        for row in conn.execute(select(identities)):
            opened = open_identity_secret(vault, row)
            seen.update((opened.get("headers") or {}).values())
            seen.update(v for k, v in opened.items() if k in ("access_token", "refresh_token"))
    return seen


def test_vault_rotate_rewraps_every_secret_with_a_new_key_version_that_still_opens_them(
    engine: Engine, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _plant(engine)
    data_dir = tmp_path / "rotating"
    data_dir.mkdir()
    Settings(data_dir=data_dir, master_key=None).save_key_ring(parse_key_ring(TEST_MASTER_KEY))
    monkeypatch.delenv("LOCKGATE_MASTER_KEY", raising=False)
    monkeypatch.setenv("LOCKGATE_DATA_DIR", str(data_dir))
    monkeypatch.setenv("LOCKGATE_DATABASE_URL", settings.resolved_database_url)

    result = CliRunner().invoke(app, ["vault", "rotate"])

    assert result.exit_code == 0, result.output
    ring = Settings(data_dir=data_dir).key_ring()
    assert ring.current == 2 and set(ring.keys) == {1, 2}
    assert (os.stat(data_dir / "master.keys").st_mode & 0o777) == 0o600
    with engine.connect() as conn:
        assert count_by_version(conn) == {2: 4}  # two servers, two identities; nothing left on 1
    planted = {f"Bearer {PLANTED['header']}", *(v for k, v in PLANTED.items() if k != "header")}
    assert _everything_opened(engine, Vault(ring)) >= planted


def test_a_store_opened_with_another_key_is_refused_at_startup_naming_the_key_version(
    engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = "b3RoZXIta2V5LW90aGVyLWtleS1vdGhlci1rZXktMzI="
    monkeypatch.setenv("LOCKGATE_MASTER_KEY", other)
    monkeypatch.setenv("LOCKGATE_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("LOCKGATE_DATABASE_URL", settings.resolved_database_url)

    result = CliRunner().invoke(app, ["servers", "list"])

    assert result.exit_code == 1
    assert "vault cannot be opened" in result.output and "key version 1" in result.output
    assert other not in result.output


def test_a_missing_key_is_refused_at_startup_with_what_to_do(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LOCKGATE_MASTER_KEY", raising=False)
    monkeypatch.setenv("LOCKGATE_DATA_DIR", str(tmp_path / "empty"))
    monkeypatch.setenv("LOCKGATE_DATABASE_URL", settings.resolved_database_url)

    result = CliRunner().invoke(app, ["servers", "list"])

    assert result.exit_code == 1
    assert "LOCKGATE_MASTER_KEY" in result.output and "lockgate init" in result.output

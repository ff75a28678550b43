"""``lockgate users set-password``: asked twice without echo, stored as an argon2id hash, recorded as
an admin event; refused for an unknown user, a short password, or with --url."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from lockgate.cli import app
from lockgate.settings import Settings
from lockgate.store.passwords import load_password_user
from lockgate.store.people import ensure_user
from lockgate.store.schema import admin_events, users
from tests.conftest import TEST_MASTER_KEY

PASSWORD = "correct horse battery staple"


@pytest.fixture
def runner(settings: Settings, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("LOCKGATE_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("LOCKGATE_DATABASE_URL", str(settings.database_url))
    monkeypatch.setenv("LOCKGATE_SECRET_KEY", "test-secret-key")
    monkeypatch.setenv("LOCKGATE_MASTER_KEY", TEST_MASTER_KEY)
    monkeypatch.setenv("LOCKGATE_MASTER_KEY", TEST_MASTER_KEY)
    monkeypatch.delenv("LOCKGATE_URL", raising=False)
    with engine.begin() as conn:
        ensure_user(conn, "ada@example.com")
    return CliRunner()


def test_a_password_set_twice_alike_lets_the_user_sign_in(runner: CliRunner, engine: Engine) -> None:
    result = runner.invoke(
        app, ["users", "set-password", "ada@example.com"], input=f"{PASSWORD}\n{PASSWORD}\n"
    )
    assert result.exit_code == 0, result.output
    assert "password set for ada@example.com" in result.stdout
    assert PASSWORD not in result.output
    with engine.begin() as conn:
        assert load_password_user(conn, "ada@example.com", PASSWORD) is not None
        stored = conn.execute(select(users.c.password_hash)).scalar_one()
        [event] = conn.execute(select(admin_events)).all()
    assert stored.startswith("$argon2id$")
    assert (event.operation, event.kind, event.name, event.before, event.after) == (
        "users_set_password",
        "user",
        "ada@example.com",
        None,
        None,
    )
    assert event.actor.startswith("operator@")


def test_two_different_entries_are_asked_for_again(runner: CliRunner, engine: Engine) -> None:
    entries = f"{PASSWORD}\nsomething else entirely\n{PASSWORD}\n{PASSWORD}\n"
    result = runner.invoke(app, ["users", "set-password", "ada@example.com"], input=entries)
    assert result.exit_code == 0, result.output
    assert "do not match" in result.output


def test_a_short_password_is_refused_and_nothing_is_stored(runner: CliRunner, engine: Engine) -> None:
    result = runner.invoke(app, ["users", "set-password", "ada@example.com"], input="short\nshort\n")
    assert result.exit_code == 1
    assert "at least 12 characters" in result.stderr
    with engine.connect() as conn:
        assert conn.execute(select(users.c.password_hash)).scalar_one() is None


def test_an_unknown_user_is_refused_before_any_password_is_asked(runner: CliRunner) -> None:
    result = runner.invoke(app, ["users", "set-password", "nobody@example.com"])
    assert result.exit_code == 1
    assert "no user with email 'nobody@example.com'" in result.stderr
    assert "Password" not in result.output


def test_it_acts_only_on_the_local_store(runner: CliRunner) -> None:
    result = runner.invoke(
        app, ["--url", "http://127.0.0.1:8080", "users", "set-password", "ada@example.com"]
    )
    assert result.exit_code == 1
    assert "acts on the local store" in result.stderr

"""Identities in the store: secrets sealed to their row, default names, choices, and who may use what."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, insert, select, text

from lockgate.domain.declaration import Declaration
from lockgate.domain.model import Availability, IdentityKind, IdentityStatus
from lockgate.store.declarative import apply_declaration
from lockgate.store.errors import ConflictError, NotFoundError, StaleVersionError
from lockgate.store.identities import (
    IdentityScope,
    create_identity,
    describe_identity,
    fetch_identity,
    list_identities,
    mark_needs_reauthorization,
    open_identity_secret,
    save_choice,
    save_identity_headers,
    save_oauth_tokens,
    usable_identities,
)
from lockgate.store.people import ensure_user
from lockgate.store.schema import gateway_servers, gateways, identities, identity_choices, servers
from lockgate.vault import VaultError
from tests.conftest import TEST_VAULT

SECRET = "sk-planted-7f3a9c"


def _server(conn: Connection, name: str = "github") -> int:
    values = {
        "name": name,
        "transport": "http",
        "enabled": True,
        "config": {"url": "https://example.com/mcp", "headers": []},
        "revision": "r",
        "version": 1,
        "created_at": time.time(),
        "updated_at": time.time(),
    }
    return int(conn.execute(insert(servers).values(values)).inserted_primary_key[0])  # type: ignore[index]


def _headers(conn: Connection, name: str | None, server_id: int, owner_id: int | None, **kw: Any) -> Any:
    return create_identity(
        conn,
        TEST_VAULT,
        name=name,
        server_id=server_id,
        owner_id=owner_id,
        kind=IdentityKind.HEADERS,
        availability=kw.pop("availability", Availability.PRIVATE),
        headers=kw.pop("headers", {"X-Api-Key": SECRET}),
        **kw,
    )


def test_header_values_are_sealed_to_their_row_and_only_the_names_are_in_the_clear(engine: Engine) -> None:
    with engine.begin() as conn:
        server_id = _server(conn)
        row = _headers(
            conn, "bot", server_id, None, headers={"X-Api-Key": SECRET, "Authorization": "Bearer b"}
        )
        assert row.header_names == ["Authorization", "X-Api-Key"]
        assert SECRET not in row.secret
        assert open_identity_secret(TEST_VAULT, row) == {
            "headers": {"X-Api-Key": SECRET, "Authorization": "Bearer b"}
        }
        other = _headers(conn, "other", server_id, None)
        copied = SimpleNamespace(id=other.id, secret=row.secret)
        with pytest.raises(VaultError):  # a secret copied to another row does not open there
            open_identity_secret(TEST_VAULT, copied)
        dump = " ".join(str(v) for r in conn.execute(text("SELECT * FROM identities")) for v in r)
        assert SECRET not in dump


def test_identities_without_a_credential_hold_no_secret(engine: Engine) -> None:
    with engine.begin() as conn:
        server_id = _server(conn)
        for kind, status in (
            (IdentityKind.NONE, IdentityStatus.READY),
            (IdentityKind.OAUTH, IdentityStatus.PENDING),
        ):
            row = create_identity(
                conn,
                TEST_VAULT,
                name=f"n-{kind}",
                server_id=server_id,
                owner_id=None,
                kind=kind,
                availability=Availability.GLOBAL,
                status=status,
            )
            assert row.secret is None and row.header_names == [] and row.status == status.value
            assert open_identity_secret(TEST_VAULT, row) == {}


def test_the_default_name_is_the_owners_email_and_the_server_numbered_on_a_clash(engine: Engine) -> None:
    with engine.begin() as conn:
        server_id = _server(conn)
        alice = ensure_user(conn, "alice@example.com")
        names = [_headers(conn, None, server_id, alice).name for _ in range(3)]
        assert names == [
            "alice@example.com/github",
            "alice@example.com/github-2",
            "alice@example.com/github-3",
        ]
        assert _headers(conn, None, server_id, None).name == "github"


def test_a_taken_name_is_a_conflict_and_an_unknown_name_not_found(engine: Engine) -> None:
    with engine.begin() as conn:
        server_id = _server(conn)
        _headers(conn, "bot", server_id, None)
        with pytest.raises(ConflictError, match="an identity named 'bot' already exists"):
            _headers(conn, "bot", server_id, None)
        with pytest.raises(NotFoundError, match="no identity named 'nobody'"):
            fetch_identity(conn, "nobody")


def test_replacing_headers_replaces_all_values_and_bumps_the_version(engine: Engine) -> None:
    with engine.begin() as conn:
        row = _headers(conn, "bot", _server(conn), None)
        saved = save_identity_headers(conn, TEST_VAULT, row, {"X-Other": "v2"}, expected=1)
        assert saved.version == 2 and saved.header_names == ["X-Other"]
        assert open_identity_secret(TEST_VAULT, saved) == {"headers": {"X-Other": "v2"}}
        with pytest.raises(StaleVersionError):
            save_identity_headers(conn, TEST_VAULT, saved, {"X-Other": "v3"}, expected=1)


def test_oauth_tokens_are_sealed_and_make_the_identity_ready_until_a_refresh_is_refused(
    engine: Engine,
) -> None:
    with engine.begin() as conn:
        row = create_identity(
            conn,
            TEST_VAULT,
            name="alice/github",
            server_id=_server(conn),
            owner_id=ensure_user(conn, "alice@example.com"),
            kind=IdentityKind.OAUTH,
            availability=Availability.PRIVATE,
            status=IdentityStatus.PENDING,
        )
        saved = save_oauth_tokens(
            conn,
            TEST_VAULT,
            row.id,
            access_token=SECRET,
            token_type="Bearer",
            refresh_token="rt-planted",
            expires_at=1234.5,
            scope="repo",
            oauth_client_id=None,
        )
        assert (saved.status, saved.version, saved.header_names) == ("ready", 2, ["Authorization"])
        assert (saved.expires_at, saved.scope) == (1234.5, "repo")
        assert SECRET not in saved.secret and "rt-planted" not in saved.secret
        assert open_identity_secret(TEST_VAULT, saved) == {
            "access_token": SECRET,
            "token_type": "Bearer",
            "refresh_token": "rt-planted",
        }
        marked = mark_needs_reauthorization(conn, row.id)
        assert (marked.status, marked.version) == ("needs_reauthorization", 3)
        with pytest.raises(NotFoundError):
            mark_needs_reauthorization(conn, 999)


def test_the_description_names_server_and_owner_and_never_the_secret(engine: Engine) -> None:
    with engine.begin() as conn:
        server_id = _server(conn)
        row = _headers(conn, None, server_id, ensure_user(conn, "alice@example.com"))
        described = describe_identity(conn, row)
    assert described["server"] == "github" and described["owner"] == "alice@example.com"
    assert "secret" not in described and SECRET not in str(described)


def test_a_scoped_list_shows_ones_own_and_the_global_identities_of_visible_servers(engine: Engine) -> None:
    with engine.begin() as conn:
        seen, unseen = _server(conn, "seen"), _server(conn, "unseen")
        gateway_id = conn.execute(
            insert(gateways).values(
                name="g", enabled=True, archived=False, version=1, created_at=0, updated_at=0
            )
        ).inserted_primary_key[0]  # type: ignore[index]
        conn.execute(
            insert(gateway_servers).values(gateway_id=gateway_id, server_id=seen, name="seen", position=0)
        )
        alice, bob = ensure_user(conn, "alice@example.com"), ensure_user(conn, "bob@example.com")
        _headers(conn, "alice-own", unseen, alice)
        _headers(conn, "bob-own", seen, bob)
        _headers(conn, "bot-seen", seen, None, availability=Availability.GLOBAL)
        _headers(conn, "bot-unseen", unseen, None, availability=Availability.GLOBAL)

        def names(scope: IdentityScope | None, **filters: Any) -> list[str]:
            args = {"server": None, "owner": None, "availability": None, "enabled": None} | filters
            items, _ = list_identities(conn, scope=scope, cursor=None, limit=100, **args)
            return [i["name"] for i in items]

        assert names(IdentityScope(alice, [gateway_id])) == ["alice-own", "bot-seen"]
        assert names(IdentityScope(alice, [])) == ["alice-own"]
        assert names(IdentityScope(alice, None)) == ["alice-own", "bot-seen", "bot-unseen"]
        assert names(None) == ["alice-own", "bob-own", "bot-seen", "bot-unseen"]
        assert names(None, availability=Availability.GLOBAL, server="seen") == ["bot-seen"]
        assert names(None, owner="bob@example.com") == ["bob-own"]
        assert names(None, owner="nobody@example.com") == []
        first, cursor = list_identities(
            conn,
            scope=None,
            server=None,
            owner=None,
            availability=None,
            enabled=None,
            cursor=None,
            limit=3,
        )
        rest, end = list_identities(
            conn,
            scope=None,
            server=None,
            owner=None,
            availability=None,
            enabled=None,
            cursor=cursor,
            limit=3,
        )
        assert [i["name"] for i in first + rest] == names(None) and end is None


def test_a_user_may_use_their_own_and_the_global_enabled_identities_only(engine: Engine) -> None:
    with engine.begin() as conn:
        server_id = _server(conn)
        alice, bob = ensure_user(conn, "alice@example.com"), ensure_user(conn, "bob@example.com")
        _headers(conn, "alice-own", server_id, alice)
        _headers(conn, "bob-own", server_id, bob)
        _headers(conn, "bot", server_id, None, availability=Availability.GLOBAL)
        off = _headers(conn, "bot-off", server_id, None, availability=Availability.GLOBAL)
        conn.execute(identities.update().where(identities.c.id == off.id).values(enabled=False))
        assert [r.name for r in usable_identities(conn, alice, server_id)] == ["alice-own", "bot"]
        assert usable_identities(conn, alice, _server(conn, "other")) == []


def test_a_choice_is_saved_once_per_user_and_assignment_and_replaced_by_the_next(engine: Engine) -> None:
    with engine.begin() as conn:
        server_id = _server(conn)
        gateway_id = conn.execute(
            insert(gateways).values(
                name="g", enabled=True, archived=False, version=1, created_at=0, updated_at=0
            )
        ).inserted_primary_key[0]  # type: ignore[index]
        assignment_id = conn.execute(
            insert(gateway_servers).values(gateway_id=gateway_id, server_id=server_id, name="gh", position=0)
        ).inserted_primary_key[0]  # type: ignore[index]
        alice = ensure_user(conn, "alice@example.com")
        first = _headers(conn, None, server_id, alice)
        second = _headers(conn, None, server_id, alice)
        save_choice(conn, alice, assignment_id, first.id)
        save_choice(conn, alice, assignment_id, second.id)
        chosen = conn.execute(select(identity_choices)).all()
        assert [(c.user_id, c.assignment_id, c.identity_id) for c in chosen] == [
            (alice, assignment_id, second.id)
        ]


def test_reapplying_a_declaration_updates_assignments_in_place_and_keeps_users_choices(
    engine: Engine,
) -> None:
    server = {"name": "github", "transport": "http", "url": "https://example.com/mcp"}
    apply_declaration(engine, TEST_VAULT, Declaration.model_validate({"servers": [server]}))
    with engine.begin() as conn:
        server_id = conn.execute(select(servers.c.id)).scalar_one()
        _headers(conn, "bot", server_id, None, availability=Availability.GLOBAL)
        alice = ensure_user(conn, "alice@example.com")
        mine = _headers(conn, None, server_id, alice)

    def declare(*assignments: dict[str, Any]) -> None:
        gateway = {"name": "g", "servers": list(assignments)}
        apply_declaration(
            engine, TEST_VAULT, Declaration.model_validate({"servers": [server], "gateways": [gateway]})
        )

    declare({"server": "github", "identity_scheme": "per_user"})
    with engine.begin() as conn:
        assignment_id = conn.execute(select(gateway_servers.c.id)).scalar_one()
        save_choice(conn, alice, assignment_id, mine.id)
    declare(
        {"server": "github", "name": "bot", "prefix": "bot", "identity_scheme": "shared", "identity": "bot"},
        {"server": "github", "prefix": "mine", "identity_scheme": "per_user"},
    )
    with engine.connect() as conn:
        rows = conn.execute(select(gateway_servers).order_by(gateway_servers.c.position)).all()
        chosen = conn.execute(select(identity_choices)).all()
        bot_id = conn.execute(select(identities.c.id).where(identities.c.name == "bot")).scalar_one()
    assert [(r.name, r.prefix, r.identity_scheme, r.identity_id) for r in rows] == [
        ("bot", "bot", "shared", bot_id),
        ("github", "mine", "per_user", None),
    ]
    assert rows[1].id == assignment_id
    assert [(c.user_id, c.assignment_id, c.identity_id) for c in chosen] == [(alice, assignment_id, mine.id)]
    declare({"server": "github", "name": "bot", "identity_scheme": "shared", "identity": "bot"})
    with engine.connect() as conn:
        assert conn.execute(select(identity_choices)).all() == []  # its assignment is gone
    with pytest.raises(NotFoundError, match="no global identity of this server"):  # a private one
        declare({"server": "github", "identity_scheme": "shared", "identity": mine.name})

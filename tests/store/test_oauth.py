"""OAuth state in the store: one client registration per (server, issuer) with its secret sealed, and
started authorizations kept by the HMAC of their state, taken back exactly once."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, insert, select, text

from lockgate.domain.declaration import ServerSpec
from lockgate.domain.model import Availability, IdentityKind, IdentityStatus, Transport
from lockgate.oauth import AuthorizationServer, ClientRegistration, PendingAuthorization
from lockgate.store.errors import NotFoundError
from lockgate.store.identities import create_identity
from lockgate.store.oauth import (
    PENDING_TTL,
    find_oauth_client,
    load_oauth_client,
    load_oauth_target,
    save_oauth_client,
    save_oauth_metadata,
    save_pending_authorization,
    take_pending_authorization,
)
from lockgate.store.people import ensure_user
from lockgate.store.schema import oauth_authorizations, oauth_clients, servers
from lockgate.store.servers import server_values
from tests.conftest import TEST_VAULT

KEY = b"test-secret-key"
ISSUER = "https://auth.example.com"
CLIENT_SECRET = "client-secret-planted-4b1e"
STATE = "state-planted-9d2c0a"
VERIFIER = "verifier-planted-" + "v" * 40
METADATA = {
    "issuer": ISSUER,
    "authorization_endpoint": f"{ISSUER}/authorize",
    "token_endpoint": f"{ISSUER}/token",
    "code_challenge_methods_supported": ["S256"],
}


def _server(conn: Connection, name: str = "github", **config: Any) -> int:
    spec = ServerSpec(name=name, transport=Transport.HTTP, url="https://mcp.example.com/mcp", **config)
    values = server_values(spec, TEST_VAULT) | {"name": name, "version": 1}
    values |= {"created_at": time.time(), "updated_at": time.time()}
    return int(conn.execute(insert(servers).values(values)).inserted_primary_key[0])  # type: ignore[index]


def _authorization_server(resource: str = "https://mcp.example.com/mcp") -> AuthorizationServer:
    return AuthorizationServer(ISSUER, dict(METADATA), resource, ("read",))


def _client(client_id: str = "client-1", secret: str | None = CLIENT_SECRET) -> ClientRegistration:
    method = "client_secret_basic" if secret else "none"
    return ClientRegistration(ISSUER, client_id, secret, method, "dynamic")


def _pending(state: str = STATE) -> PendingAuthorization:
    return PendingAuthorization(
        url=f"{ISSUER}/authorize?state={state}",
        state=state,
        code_verifier=VERIFIER,
        redirect_uri="https://lockgate.example.com/oauth/callback",
        issuer=ISSUER,
        resource="https://mcp.example.com/mcp",
        scope="read",
    )


@pytest.fixture
def prepared(engine: Engine) -> dict[str, int]:
    """A server, a user and their pending OAuth identity for it."""
    with engine.begin() as conn:
        server_id = _server(conn)
        user_id = ensure_user(conn, "ada@example.com")
        identity = create_identity(
            conn,
            TEST_VAULT,
            name=None,
            server_id=server_id,
            owner_id=user_id,
            kind=IdentityKind.OAUTH,
            availability=Availability.PRIVATE,
            status=IdentityStatus.PENDING,
        )
    return {"server_id": server_id, "user_id": user_id, "identity_id": identity.id}


def test_a_client_registration_is_found_by_server_and_issuer_with_its_secret_sealed(
    engine: Engine, prepared: dict[str, int]
) -> None:
    with engine.begin() as conn:
        client_id = save_oauth_client(
            conn, TEST_VAULT, prepared["server_id"], _authorization_server(), _client()
        )
    with engine.connect() as conn:
        stored = find_oauth_client(conn, TEST_VAULT, prepared["server_id"], ISSUER)
        assert find_oauth_client(conn, TEST_VAULT, prepared["server_id"], "https://other.example.com") is None
        raw = [repr(r._mapping) for r in conn.execute(select(oauth_clients))]
    assert stored is not None
    assert stored.id == client_id
    assert stored.client == _client()
    assert stored.client.client_secret == CLIENT_SECRET
    assert stored.server.metadata == METADATA
    assert stored.server.resource == "https://mcp.example.com/mcp"
    assert CLIENT_SECRET not in "".join(raw)


def test_a_client_without_a_secret_is_stored_without_one(engine: Engine, prepared: dict[str, int]) -> None:
    with engine.begin() as conn:
        client_id = save_oauth_client(
            conn, TEST_VAULT, prepared["server_id"], _authorization_server(), _client(secret=None)
        )
        assert conn.execute(select(oauth_clients.c.secret)).scalar() is None
        _, client = load_oauth_client(conn, TEST_VAULT, client_id)
    assert client.client_secret is None
    assert client.token_endpoint_auth_method == "none"


def test_registering_again_at_the_same_issuer_replaces_the_registration_in_place(
    engine: Engine, prepared: dict[str, int]
) -> None:
    with engine.begin() as conn:
        first = save_oauth_client(conn, TEST_VAULT, prepared["server_id"], _authorization_server(), _client())
        second = save_oauth_client(
            conn,
            TEST_VAULT,
            prepared["server_id"],
            _authorization_server(),
            _client("client-2", "new-secret"),
        )
        _, client = load_oauth_client(conn, TEST_VAULT, second)
        rows = conn.execute(select(oauth_clients)).all()
    assert first == second
    assert len(rows) == 1
    assert (client.client_id, client.client_secret) == ("client-2", "new-secret")


def test_a_client_is_stored_only_with_its_own_authorization_server(
    engine: Engine, prepared: dict[str, int]
) -> None:
    elsewhere = ClientRegistration("https://other.example.com", "c", None, "none", "dynamic")
    with engine.begin() as conn, pytest.raises(ValueError, match="own authorization server"):
        save_oauth_client(conn, TEST_VAULT, prepared["server_id"], _authorization_server(), elsewhere)


def test_rediscovered_metadata_and_resource_are_kept(engine: Engine, prepared: dict[str, int]) -> None:
    with engine.begin() as conn:
        client_id = save_oauth_client(
            conn, TEST_VAULT, prepared["server_id"], _authorization_server(), _client()
        )
        moved = AuthorizationServer(
            ISSUER, {**METADATA, "scopes_supported": ["read"]}, "https://mcp.example.com"
        )
        save_oauth_metadata(conn, client_id, moved)
        server, _ = load_oauth_client(conn, TEST_VAULT, client_id)
    assert server.metadata["scopes_supported"] == ["read"]
    assert server.resource == "https://mcp.example.com"
    assert server.scopes == ()


def test_loading_an_unknown_client_is_not_found(engine: Engine) -> None:
    with engine.connect() as conn, pytest.raises(NotFoundError):
        load_oauth_client(conn, TEST_VAULT, 999)


def test_a_started_authorization_is_taken_back_once_by_its_state(
    engine: Engine, prepared: dict[str, int]
) -> None:
    with engine.begin() as conn:
        client_id = save_oauth_client(
            conn, TEST_VAULT, prepared["server_id"], _authorization_server(), _client()
        )
        save_pending_authorization(
            conn,
            TEST_VAULT,
            KEY,
            _pending(),
            identity_id=prepared["identity_id"],
            user_id=prepared["user_id"],
            oauth_client_id=client_id,
            return_to="/connect/abc/engineering",
        )
    with engine.begin() as conn:
        taken = take_pending_authorization(conn, TEST_VAULT, KEY, STATE)
    with engine.begin() as conn:
        again = take_pending_authorization(conn, TEST_VAULT, KEY, STATE)
    assert taken is not None
    assert again is None
    assert (taken.identity_id, taken.user_id, taken.oauth_client_id, taken.return_to) == (
        prepared["identity_id"],
        prepared["user_id"],
        client_id,
        "/connect/abc/engineering",
    )
    assert taken.pending == dataclasses.replace(_pending(), url="")


def test_a_state_and_its_code_verifier_are_not_stored_in_plaintext(
    engine: Engine, prepared: dict[str, int]
) -> None:
    with engine.begin() as conn:
        client_id = save_oauth_client(
            conn, TEST_VAULT, prepared["server_id"], _authorization_server(), _client()
        )
        save_pending_authorization(
            conn,
            TEST_VAULT,
            KEY,
            _pending(),
            identity_id=prepared["identity_id"],
            user_id=None,
            oauth_client_id=client_id,
            return_to=None,
        )
        raw = "".join(repr(r._mapping) for r in conn.execute(select(oauth_authorizations)))
    assert STATE not in raw
    assert VERIFIER not in raw


@pytest.mark.parametrize("state", ["", "another-state", STATE.upper()])
def test_an_unknown_state_takes_nothing(engine: Engine, prepared: dict[str, int], state: str) -> None:
    with engine.begin() as conn:
        client_id = save_oauth_client(
            conn, TEST_VAULT, prepared["server_id"], _authorization_server(), _client()
        )
        save_pending_authorization(
            conn,
            TEST_VAULT,
            KEY,
            _pending(),
            identity_id=prepared["identity_id"],
            user_id=None,
            oauth_client_id=client_id,
            return_to=None,
        )
        assert take_pending_authorization(conn, TEST_VAULT, KEY, state) is None
        assert take_pending_authorization(conn, TEST_VAULT, b"another-key", STATE) is None
        assert take_pending_authorization(conn, TEST_VAULT, KEY, STATE) is not None


def test_an_expired_authorization_is_not_taken_and_is_gone(engine: Engine, prepared: dict[str, int]) -> None:
    started = time.time() - PENDING_TTL - 1
    with engine.begin() as conn:
        client_id = save_oauth_client(
            conn, TEST_VAULT, prepared["server_id"], _authorization_server(), _client()
        )
        save_pending_authorization(
            conn,
            TEST_VAULT,
            KEY,
            _pending(),
            identity_id=prepared["identity_id"],
            user_id=None,
            oauth_client_id=client_id,
            return_to=None,
            now=started,
        )
        assert take_pending_authorization(conn, TEST_VAULT, KEY, STATE) is None
        assert conn.execute(select(oauth_authorizations)).all() == []


def test_starting_an_authorization_clears_the_expired_ones(engine: Engine, prepared: dict[str, int]) -> None:
    with engine.begin() as conn:
        client_id = save_oauth_client(
            conn, TEST_VAULT, prepared["server_id"], _authorization_server(), _client()
        )
        common: dict[str, Any] = {
            "identity_id": prepared["identity_id"],
            "user_id": None,
            "oauth_client_id": client_id,
        }
        save_pending_authorization(
            conn,
            TEST_VAULT,
            KEY,
            _pending("old"),
            return_to=None,
            now=time.time() - 2 * PENDING_TTL,
            **common,
        )
        save_pending_authorization(conn, TEST_VAULT, KEY, _pending("new"), return_to=None, **common)
        assert conn.execute(text("SELECT count(*) FROM oauth_authorizations")).scalar() == 1


def test_the_target_of_an_authorization_names_its_server_and_pre_registered_client(
    engine: Engine, prepared: dict[str, int]
) -> None:
    with engine.connect() as conn:
        target = load_oauth_target(conn, TEST_VAULT, prepared["identity_id"])
        with pytest.raises(NotFoundError):
            load_oauth_target(conn, TEST_VAULT, 999)
    assert (target.server_name, target.transport, target.url) == (
        "github",
        Transport.HTTP,
        "https://mcp.example.com/mcp",
    )
    assert (target.kind, target.status, target.owner_id) == (
        IdentityKind.OAUTH,
        IdentityStatus.PENDING,
        prepared["user_id"],
    )
    assert target.pre_registered is None

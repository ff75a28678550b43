"""Authorizing an OAuth identity: discovery, the client registered once per (server, issuer) by the
spec's priority, PKCE and the resource indicator, one use per state, the callback bound to the user
who began it, and errors that say what failed without a secret."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import Engine, insert, select, update

from lockgate.brokering.authorization import (
    Broker,
    BrokeringError,
    begin_authorization,
    complete_authorization,
)
from lockgate.brokering.client_metadata import client_metadata_document
from lockgate.domain.declaration import ServerSpec
from lockgate.domain.model import Availability, IdentityKind, IdentityStatus, Transport
from lockgate.store.identities import create_identity, open_identity_secret
from lockgate.store.people import ensure_user
from lockgate.store.schema import identities, oauth_authorizations, oauth_clients, servers
from lockgate.store.servers import server_values
from tests.brokering.fakes import ISSUER, SERVER_URL, FakeAuthorizationServer, query
from tests.conftest import TEST_VAULT

pytestmark = pytest.mark.anyio
KEY = b"test-secret-key"
HTTP_URL = "http://127.0.0.1:8080"
HTTPS_URL = "https://lockgate.example.com"
RETURN_TO = "/connect/link/engineering"


@dataclass
class World:
    engine: Engine
    fake: FakeAuthorizationServer
    broker: Broker
    server_id: int
    ada: int
    grace: int

    def identity(
        self, owner: int | None = None, *, kind: IdentityKind = IdentityKind.OAUTH, **kw: Any
    ) -> int:
        with self.engine.begin() as conn:
            row = create_identity(
                conn,
                TEST_VAULT,
                name=None,
                server_id=kw.pop("server_id", self.server_id),
                owner_id=owner or self.ada,
                kind=kind,
                availability=Availability.PRIVATE,
                status=kw.pop("status", IdentityStatus.PENDING),
                headers={"X-Key": "k"} if kind is IdentityKind.HEADERS else None,
            )
        return int(row.id)

    def row(self, identity_id: int) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(select(identities).where(identities.c.id == identity_id)).one()

    def configure(self, **oauth: str) -> None:
        """Set the server's ``oauth_*`` settings, as the control plane stores them."""
        spec = ServerSpec(name="github", transport=Transport.HTTP, url=SERVER_URL, **oauth)
        with self.engine.begin() as conn:
            values = server_values(spec, TEST_VAULT)
            conn.execute(update(servers).where(servers.c.id == self.server_id).values(values))


def _add_server(engine: Engine, name: str, transport: Transport, **spec: Any) -> int:
    values = server_values(ServerSpec(name=name, transport=transport, **spec), TEST_VAULT)
    values |= {"name": name, "version": 1, "created_at": time.time(), "updated_at": time.time()}
    with engine.begin() as conn:
        return int(conn.execute(insert(servers).values(values)).inserted_primary_key[0])  # type: ignore[index]


async def _world(engine: Engine, public_url: str, **overrides: Any) -> AsyncIterator[World]:
    fake = FakeAuthorizationServer(metadata_overrides=overrides)
    server_id = _add_server(engine, "github", Transport.HTTP, url=SERVER_URL)
    with engine.begin() as conn:
        ada, grace = ensure_user(conn, "ada@example.com"), ensure_user(conn, "grace@example.com")
    async with fake.client() as http:
        yield World(engine, fake, Broker(engine, TEST_VAULT, KEY, public_url, http), server_id, ada, grace)


@pytest.fixture
async def world(engine: Engine) -> AsyncIterator[World]:
    async for w in _world(engine, HTTP_URL):
        yield w


async def _authorize(world: World, identity_id: int, user: int | None = None) -> dict[str, str]:
    url = await begin_authorization(world.broker, identity_id, user_id=user or world.ada, return_to=RETURN_TO)
    return world.fake.approve(url)


async def test_an_oauth_identity_gets_its_tokens_through_dynamic_registration_pkce_and_the_resource(
    world: World,
) -> None:
    identity_id = world.identity()
    url = await begin_authorization(world.broker, identity_id, user_id=world.ada, return_to=RETURN_TO)
    sent = query(url)
    assert (sent["redirect_uri"], sent["resource"], sent["client_id"]) == (
        f"{HTTP_URL}/oauth/callback",
        SERVER_URL,
        "client-1",
    )
    [registration] = world.fake.registrations
    assert registration["redirect_uris"] == [f"{HTTP_URL}/oauth/callback"]
    assert registration["grant_types"] == ["authorization_code", "refresh_token"]

    completion = await complete_authorization(world.broker, world.fake.approve(url), user_id=world.ada)

    assert (completion.identity_id, completion.return_to) == (identity_id, RETURN_TO)
    row = world.row(identity_id)
    assert row.status == IdentityStatus.READY.value
    assert row.oauth_client_id is not None
    assert row.expires_at is not None and row.expires_at > time.time() + 3000
    secret = open_identity_secret(TEST_VAULT, row)
    assert (secret["access_token"], secret["refresh_token"]) == ("at-ada-1", "rt-at-ada-1")
    [exchange] = world.fake.token_requests
    assert exchange["grant_type"] == "authorization_code"


async def test_the_client_registered_for_a_server_is_reused_by_later_authorizations(world: World) -> None:
    for owner in (world.ada, world.grace):
        identity_id = world.identity(owner)
        await complete_authorization(world.broker, await _authorize(world, identity_id, owner), user_id=owner)
    assert len(world.fake.registrations) == 1
    with world.engine.connect() as conn:
        assert len(conn.execute(select(oauth_clients)).all()) == 1


async def test_a_pre_registered_client_in_the_server_configuration_is_used_without_registering(
    world: World,
) -> None:
    world.configure(oauth_client_id="pre-registered", oauth_client_secret="pre-registered-secret")
    world.fake.clients["pre-registered"] = "pre-registered-secret"
    identity_id = world.identity()
    url = await begin_authorization(world.broker, identity_id, user_id=world.ada, return_to=RETURN_TO)
    assert query(url)["client_id"] == "pre-registered"
    assert world.fake.registrations == []
    await complete_authorization(world.broker, world.fake.approve(url), user_id=world.ada)
    assert world.row(identity_id).status == IdentityStatus.READY.value
    assert "client_id" not in world.fake.token_requests[0]  # the secret went as HTTP Basic


async def test_a_public_pre_registered_client_authenticates_with_its_id_alone(world: World) -> None:
    world.configure(oauth_client_id="public-client")
    world.fake.clients["public-client"] = None
    identity_id = world.identity()
    await complete_authorization(world.broker, await _authorize(world, identity_id), user_id=world.ada)
    assert world.fake.token_requests[0]["client_id"] == "public-client"
    assert world.row(identity_id).status == IdentityStatus.READY.value


async def test_the_configured_scopes_are_asked_for_instead_of_the_discovered_ones(world: World) -> None:
    url = await begin_authorization(world.broker, world.identity(), user_id=world.ada, return_to=RETURN_TO)
    assert "scope" not in query(url)
    world.configure(oauth_scopes="repo read:org")
    url = await begin_authorization(world.broker, world.identity(), user_id=world.ada, return_to=RETURN_TO)
    assert query(url)["scope"] == "repo read:org"


async def test_a_stored_dynamic_client_is_replaced_once_a_client_is_pre_registered(world: World) -> None:
    await _authorize(world, world.identity())
    world.configure(oauth_client_id="pre-registered")
    url = await begin_authorization(
        world.broker, world.identity(world.grace), user_id=world.grace, return_to="/"
    )
    assert query(url)["client_id"] == "pre-registered"
    with world.engine.connect() as conn:
        assert conn.execute(select(oauth_clients.c.client_id, oauth_clients.c.kind)).all() == [
            ("pre-registered", "pre_registered")
        ]


async def test_over_https_the_client_id_metadata_document_is_the_client_when_the_server_supports_it(
    engine: Engine,
) -> None:
    async for world in _world(engine, HTTPS_URL, client_id_metadata_document_supported=True):
        url = await begin_authorization(
            world.broker, world.identity(), user_id=world.ada, return_to=RETURN_TO
        )
        document = client_metadata_document(HTTPS_URL)
        assert document is not None
        assert query(url)["client_id"] == document["client_id"] == f"{HTTPS_URL}/oauth/client-metadata.json"
        assert document["redirect_uris"] == [query(url)["redirect_uri"]] == [f"{HTTPS_URL}/oauth/callback"]
        assert world.fake.registrations == []
        await complete_authorization(world.broker, world.fake.approve(url), user_id=world.ada)


async def test_over_http_lockgate_registers_dynamically_even_when_metadata_documents_are_supported(
    engine: Engine,
) -> None:
    async for world in _world(engine, HTTP_URL, client_id_metadata_document_supported=True):
        url = await begin_authorization(
            world.broker, world.identity(), user_id=world.ada, return_to=RETURN_TO
        )
        assert query(url)["client_id"] == "client-1"
        assert client_metadata_document(HTTP_URL) is None


async def test_a_state_completes_one_authorization_once(world: World) -> None:
    identity_id = world.identity()
    callback = await _authorize(world, identity_id)
    await complete_authorization(world.broker, callback, user_id=world.ada)
    with pytest.raises(BrokeringError, match="expired or was already completed"):
        await complete_authorization(world.broker, callback, user_id=world.ada)
    assert len(world.fake.token_requests) == 1


async def test_an_expired_authorization_is_not_completed(world: World) -> None:
    callback = await _authorize(world, world.identity())
    with world.engine.begin() as conn:
        conn.execute(update(oauth_authorizations).values(expires_at=time.time() - 1))
    with pytest.raises(BrokeringError, match="expired"):
        await complete_authorization(world.broker, callback, user_id=world.ada)
    assert world.fake.token_requests == []


async def test_another_user_cannot_complete_an_authorization_they_did_not_begin(world: World) -> None:
    identity_id = world.identity()
    callback = await _authorize(world, identity_id)
    with pytest.raises(BrokeringError, match="started by someone else"):
        await complete_authorization(world.broker, callback, user_id=world.grace)
    assert world.row(identity_id).status == IdentityStatus.PENDING.value
    assert world.fake.token_requests == []


async def test_a_declined_consent_is_reported_with_its_error_and_the_way_back(world: World) -> None:
    identity_id = world.identity()
    url = await begin_authorization(world.broker, identity_id, user_id=world.ada, return_to=RETURN_TO)
    with pytest.raises(BrokeringError) as refused:
        await complete_authorization(world.broker, world.fake.deny(url), user_id=world.ada)
    assert "access_denied" in refused.value.message
    assert "github" in refused.value.message
    assert refused.value.return_to == RETURN_TO
    assert world.row(identity_id).status == IdentityStatus.PENDING.value


async def test_a_callback_from_another_issuer_is_refused(world: World) -> None:
    callback = await _authorize(world, world.identity())
    with pytest.raises(BrokeringError, match="iss_mismatch"):
        await complete_authorization(
            world.broker, {**callback, "iss": "https://evil.example.com"}, user_id=world.ada
        )
    assert world.fake.token_requests == []


async def test_a_callback_without_a_state_is_refused(world: World) -> None:
    with pytest.raises(BrokeringError, match="without a state"):
        await complete_authorization(world.broker, {"code": "c"}, user_id=world.ada)


async def test_an_identity_that_needs_reauthorization_can_be_authorized_again(world: World) -> None:
    identity_id = world.identity(status=IdentityStatus.NEEDS_REAUTHORIZATION)
    await complete_authorization(world.broker, await _authorize(world, identity_id), user_id=world.ada)
    assert world.row(identity_id).status == IdentityStatus.READY.value


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("ready", "already authorized"),
        ("headers", "not an OAuth identity"),
        ("someone_elses", "not yours"),
        ("stdio", "not a Streamable HTTP server"),
        ("missing", "no longer exists"),
    ],
)
async def test_only_an_own_oauth_identity_awaiting_authorization_on_an_http_server_begins(
    world: World, case: str, message: str
) -> None:
    identity_id = {
        "ready": lambda: world.identity(status=IdentityStatus.READY),
        "headers": lambda: world.identity(kind=IdentityKind.HEADERS, status=IdentityStatus.READY),
        "someone_elses": lambda: world.identity(world.grace),
        "stdio": lambda: world.identity(
            server_id=_add_server(world.engine, "local", Transport.STDIO, command="x")
        ),
        "missing": lambda: 999,
    }[case]()
    with pytest.raises(BrokeringError, match=message) as refused:
        await begin_authorization(world.broker, identity_id, user_id=world.ada, return_to=RETURN_TO)
    assert refused.value.return_to == RETURN_TO
    assert world.fake.registrations == []


async def test_an_unreachable_server_is_a_clear_error_naming_it(world: World) -> None:
    world.fake.reachable = False
    with pytest.raises(BrokeringError, match="Signing in to github could not start") as refused:
        await begin_authorization(world.broker, world.identity(), user_id=world.ada, return_to=RETURN_TO)
    assert "could not be reached" in refused.value.message


async def test_a_refused_registration_says_to_pre_register_a_client(engine: Engine) -> None:
    async for world in _world(engine, HTTP_URL, registration_endpoint=None):
        with pytest.raises(BrokeringError, match="pre-register a client"):
            await begin_authorization(world.broker, world.identity(), user_id=world.ada, return_to=RETURN_TO)


@pytest.mark.parametrize(
    "return_to", ["https://evil.example.com/", "//evil.example.com", "/\\evil", "relative"]
)
async def test_only_a_path_on_lockgate_is_a_place_to_return_to(world: World, return_to: str) -> None:
    with pytest.raises(ValueError, match="path on Lockgate"):
        await begin_authorization(world.broker, world.identity(), user_id=world.ada, return_to=return_to)


async def test_nothing_secret_is_stored_in_plaintext_along_the_way(world: World) -> None:
    identity_id = world.identity()
    url = await begin_authorization(world.broker, identity_id, user_id=world.ada, return_to=RETURN_TO)
    with world.engine.connect() as conn:
        pending = "".join(repr(r._mapping) for r in conn.execute(select(oauth_authorizations)))
    await complete_authorization(world.broker, world.fake.approve(url), user_id=world.ada)
    with world.engine.connect() as conn:
        stored = "".join(
            repr(r._mapping) for t in (oauth_clients, identities) for r in conn.execute(select(t))
        )
    assert query(url)["state"] not in pending
    for secret in [*[s for s in world.fake.clients.values() if s], "at-ada-1", "rt-at-ada-1"]:
        assert secret not in stored
    assert ISSUER in stored

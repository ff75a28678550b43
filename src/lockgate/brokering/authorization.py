"""Obtaining an OAuth identity's first tokens: Lockgate, as the upstream server's OAuth client, sends
the user's browser to the authorization server and takes the answer at its one fixed callback.

``begin_authorization`` probes the server, discovers its authorization server, reuses the client
registered there for this server or registers one (a pre-registered client from the server's
configuration, else Lockgate's Client ID Metadata Document when the public URL is https, else RFC
7591 dynamic registration: MCP authorization 2026-07-28 §Client Registration), asks for the server's
configured ``oauth_scopes`` (else the scopes discovery selects), keeps the started authorization and
returns the URL to send the browser to. ``complete_authorization`` takes that
authorization back by its ``state`` (once), exchanges the code (``state`` and ``iss`` checked by
``lockgate.oauth``) and stores the tokens on the identity.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import anyio.to_thread
import httpx
from sqlalchemy import Connection, Engine, Row

from lockgate.brokering.client_metadata import CLIENT_NAME, callback_url, metadata_document_url
from lockgate.domain.model import IdentityKind, IdentityStatus, Transport
from lockgate.oauth import (
    AuthorizationServer,
    ClientRegistration,
    OAuthError,
    TokenSet,
    discover,
    finish_authorization,
    probe,
    register,
    start_authorization,
)
from lockgate.store.errors import NotFoundError
from lockgate.store.identities import save_oauth_tokens
from lockgate.store.oauth import (
    OAuthTarget,
    StoredClient,
    find_oauth_client,
    load_oauth_client,
    load_oauth_target,
    save_oauth_client,
    save_oauth_metadata,
    save_pending_authorization,
    take_pending_authorization,
)
from lockgate.vault import Vault

T = TypeVar("T")
AUTHORIZABLE = (IdentityStatus.PENDING, IdentityStatus.NEEDS_REAUTHORIZATION)


class BrokeringError(Exception):
    """An authorization could not begin or complete. ``message`` is a sentence for the person in
    front of the browser (never a secret); ``return_to`` is where they were headed, if known."""

    def __init__(self, message: str, return_to: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.return_to = return_to


@dataclass(frozen=True, slots=True)
class Broker:
    """What brokering needs: the store, the vault, the instance key (states are kept as its HMAC),
    Lockgate's public URL (the callback and the metadata document live there) and ``http``, the
    client of every outbound OAuth request (``lockgate.egress.guarded_client`` in production, an
    ``httpx.MockTransport`` client in tests; its owner closes it)."""

    engine: Engine
    vault: Vault
    key: bytes
    public_url: str
    http: httpx.AsyncClient

    @property
    def callback_url(self) -> str:
        return callback_url(self.public_url)

    async def run(self, step: Callable[[Connection], T]) -> T:
        """``step`` in a transaction of its own, off the event loop."""

        def transaction() -> T:
            with self.engine.begin() as conn:
                return step(conn)

        return await anyio.to_thread.run_sync(transaction)


@dataclass(frozen=True, slots=True)
class Completion:
    """A completed authorization: the identity now holds tokens; send the browser to ``return_to``."""

    identity_id: int
    return_to: str | None


async def begin_authorization(
    broker: Broker, identity_id: int, *, user_id: int | None, return_to: str
) -> str:
    """The authorization server URL to send the user's browser to, for the OAuth identity
    ``identity_id`` (pending or needing re-authorization) of an http server. ``user_id`` is who
    asks (they must own the identity; None: the operator) and the only one who may complete it;
    ``return_to`` a path on Lockgate to come back to.

    Raises:
        ValueError: ``return_to`` is not a path on Lockgate.
        BrokeringError: no such identity, not theirs, not OAuth, not awaiting authorization, not an
            http server, or a discovery or registration step failed (the message says which).
    """
    if not is_local_path(return_to):
        raise ValueError("return_to must be a path on Lockgate")
    try:
        target = await broker.run(lambda conn: load_oauth_target(conn, broker.vault, identity_id))
    except NotFoundError:
        raise BrokeringError("That identity no longer exists.", return_to) from None
    url = _require_authorizable(target, user_id, return_to)
    try:
        server = await discover(broker.http, url, www_authenticate=await probe(broker.http, url))
        stored = await broker.run(
            lambda conn: find_oauth_client(conn, broker.vault, target.server_id, server.issuer)
        )
        oauth_client_id, client = await _client(broker, target, server, stored)
    except OAuthError as exc:  # lockgate.oauth reports network failures as OAuthError too
        raise BrokeringError(
            f"Signing in to {target.server_name} could not start: {exc.description}", return_to
        ) from None
    pending = start_authorization(server, client, redirect_uri=broker.callback_url, scope=target.scope)
    await broker.run(
        lambda conn: save_pending_authorization(
            conn,
            broker.vault,
            broker.key,
            pending,
            identity_id=target.identity_id,
            user_id=user_id,
            oauth_client_id=oauth_client_id,
            return_to=return_to,
        )
    )
    return pending.url


def _require_authorizable(target: OAuthTarget, user_id: int | None, return_to: str) -> str:
    """The server URL to authorize at; raises BrokeringError when the identity cannot be authorized."""
    if user_id is not None and target.owner_id != user_id:
        raise BrokeringError(f"Identity {target.identity_name} is not yours to authorize.", return_to)
    if target.kind is not IdentityKind.OAUTH:
        raise BrokeringError(f"Identity {target.identity_name} is not an OAuth identity.", return_to)
    if target.status not in AUTHORIZABLE:
        raise BrokeringError(f"Identity {target.identity_name} is already authorized.", return_to)
    if target.transport is not Transport.HTTP or not target.url:
        message = f"Server {target.server_name} is not a Streamable HTTP server, so it has no OAuth sign-in."
        raise BrokeringError(message, return_to)
    return target.url


async def _client(
    broker: Broker,
    target: OAuthTarget,
    server: AuthorizationServer,
    stored: StoredClient | None,
) -> tuple[int, ClientRegistration]:
    """The stored registration, its metadata refreshed, unless the configuration moved past it
    (``_outdated``); otherwise a new registration, stored."""
    document_url = metadata_document_url(broker.public_url)
    if stored is not None and not _outdated(stored.client, target.pre_registered, document_url):
        await broker.run(lambda conn: save_oauth_metadata(conn, stored.id, server))
        return stored.id, stored.client
    client = await register(
        broker.http,
        server,
        redirect_uri=broker.callback_url,
        client_name=CLIENT_NAME,
        pre_registered=target.pre_registered,
        metadata_document_url=document_url,
    )
    saved = await broker.run(
        lambda conn: save_oauth_client(conn, broker.vault, target.server_id, server, client)
    )
    return saved, client


def _outdated(
    client: ClientRegistration, pre_registered: tuple[str, str | None] | None, document_url: str | None
) -> bool:
    """Whether a stored registration no longer matches what ``register`` would pick: an admin set,
    changed or removed the server's pre-registered client, or Lockgate's public URL (the metadata
    document's URL, which is the client id) changed."""
    if pre_registered is not None:
        return client.kind != "pre_registered" or (client.client_id, client.client_secret) != pre_registered
    if client.kind == "pre_registered":
        return True
    return client.kind == "metadata_document" and client.client_id != document_url


async def complete_authorization(
    broker: Broker, params: Mapping[str, str], *, user_id: int | None
) -> Completion:
    """Completes the authorization the callback's query ``params`` answer (``state``, ``code``,
    ``iss`` or ``error``), for ``user_id``, who must be who began it; stores the tokens on its
    identity, which becomes ready. The started authorization is used up whatever the outcome.

    Raises:
        BrokeringError: no state, an unknown, expired or used state, another user's authorization,
            the authorization server's refusal (``access_denied``, ...) or a failed check or code
            exchange (the message says which; ``return_to`` is set once the state is known).
    """
    state = params.get("state")
    if not state:
        raise BrokeringError(
            "The authorization server answered without a state, so the sign-in cannot be completed."
        )
    taken = await broker.run(lambda conn: take_pending_authorization(conn, broker.vault, broker.key, state))
    if taken is None:
        raise BrokeringError("This sign-in has expired or was already completed. Start it again.")
    if taken.user_id is not None and taken.user_id != user_id:
        raise BrokeringError("This sign-in was started by someone else, so it was not completed.")
    target = await broker.run(lambda conn: load_oauth_target(conn, broker.vault, taken.identity_id))
    server, client = await broker.run(
        lambda conn: load_oauth_client(conn, broker.vault, taken.oauth_client_id)
    )
    try:
        tokens = await finish_authorization(broker.http, server, client, taken.pending, params)
    except OAuthError as exc:
        message = f"Signing in to {target.server_name} did not complete ({exc.error}): {exc.description}"
        raise BrokeringError(message, taken.return_to) from None
    await broker.run(
        lambda conn: save_token_set(conn, broker.vault, taken.identity_id, tokens, taken.oauth_client_id)
    )
    return Completion(taken.identity_id, taken.return_to)


def save_token_set(
    conn: Connection, vault: Vault, identity_id: int, tokens: TokenSet, oauth_client_id: int
) -> Row[Any]:
    """Store the tokens an authorization or a refresh obtained on the identity, which becomes ready."""
    return save_oauth_tokens(
        conn,
        vault,
        identity_id,
        access_token=tokens.access_token,
        token_type=tokens.token_type,
        refresh_token=tokens.refresh_token,
        expires_at=tokens.expires_at,
        scope=tokens.scope,
        oauth_client_id=oauth_client_id,
    )


def is_local_path(value: str) -> bool:
    """Whether ``value`` is a path on this site: one leading ``/``, no scheme or authority, no
    backslash or control character (so a redirect to it cannot leave Lockgate)."""
    return value.startswith("/") and not value.startswith("//") and "\\" not in value and value.isprintable()

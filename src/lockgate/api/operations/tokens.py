"""API tokens: what token-based hosts present to reach a gateway. Minted, listed, revoked;
optionally expiring. A token is shown once, when it is minted; only its keyed hash is stored.

Tokens are team-scoped through their gateway. A token acts as one existing user whose teams are
granted the gateway, and calls as that user's private identities only when they minted it
themselves or the minter may manage identities (``policy.tokens``); adding people needs *Manage
people* (``users create``), never a token. A token stands on its sponsor (its user, or for the
host's agent user whoever minted it) and is refused while the sponsor may not use the gateway.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field
from sqlalchemy import Connection, Row

from lockgate.api.errors import Forbidden
from lockgate.api.operation import Context, Input, Operation
from lockgate.api.operations.common import ListInput, Name, Page
from lockgate.domain.capabilities import Capability
from lockgate.domain.durations import parse_duration
from lockgate.policy.access_control import resolve_visible_gateways
from lockgate.policy.tokens import can_receive_tokens, can_use_private_identities, resolve_mint_refusal
from lockgate.store import tokens as store
from lockgate.store.connections import ensure_agent
from lockgate.store.people import fetch_user_actor
from lockgate.store.records import fetch_named
from lockgate.store.schema import gateways, hosts
from lockgate.store.webhooks import enqueue_token_delivery, load_webhook_setter

PUBLIC_ID = r"^tok_[A-Za-z0-9]{1,28}$"
LEAST_LIFETIME = 60
MOST_LIFETIME = 365 * 86_400


def _lifetime(value: int | str) -> int:
    return parse_duration(value, least=LEAST_LIFETIME, most=MOST_LIFETIME)


Lifetime = Annotated[int | str, AfterValidator(_lifetime)]


class ApiToken(BaseModel):
    id: str = Field(description="The token's public id (tok_...); it names the token, it is not the token.")
    host: str
    gateway: str
    user: str = Field(description="The email of the user the host acts as.")
    created_at: float
    revoked_at: float | None
    expires_at: float | None = Field(description="When it stops working (Unix seconds); null: never.")
    private_identities: bool = Field(
        description="Whether it calls as its user's private identities: true when the user minted "
        "it themselves (the connection link) or its minter may manage identities."
    )


class NewApiToken(ApiToken):
    token: str = Field(description="The token itself. Shown this once: store it now.")


class TokenList(ListInput):
    host: Name | None = None
    gateway: Name | None = None
    user: str | None = Field(None, max_length=320, description="A user's email.")
    revoked: bool | None = Field(None, description="Only revoked tokens (true) or only live ones (false).")


class TokenCreate(Input):
    host: Name
    gateway: Name
    user: str | None = Field(
        None,
        max_length=320,
        pattern=r"^[^@\s]+@[^@\s]+$",
        description="The email of an existing user it acts as, in a team granted the gateway "
        "(default: the host's agent user, the token then standing on whoever mints it).",
    )
    expires_in: Lifetime | None = Field(
        None,
        description="Lifetime: seconds, or a number with a unit (90m, 12h, 30d, 2w), from 1 minute to "
        "365 days. Default: never expires.",
    )


class TokenRef(Input):
    token: str = Field(pattern=PUBLIC_ID, description="The token's public id.")


def _view(row: Row[Any]) -> ApiToken:
    return ApiToken.model_validate({**row._mapping, "id": row.public_id})


def list_tokens(ctx: Context, args: TokenList) -> Page[ApiToken]:
    """The API tokens to the gateways the caller may use, oldest first (never the tokens)."""
    with ctx.transaction() as conn:
        rows, cursor = store.load_token_page(
            conn,
            visible=resolve_visible_gateways(ctx.actor),
            host=args.host,
            gateway=args.gateway,
            user=args.user,
            revoked=args.revoked,
            cursor=args.cursor,
            limit=args.limit,
        )
    return Page[ApiToken](items=[_view(r) for r in rows], next_cursor=cursor)


def create_token(ctx: Context, args: TokenCreate) -> NewApiToken:
    """Mint a token for host × gateway × user, making the connection when new. The answer carries
    the token this once; the host's webhook, if it has one, receives it too when whoever last set
    the webhook URL may use the gateway.

    Raises:
        NotFound: no such host, gateway or user. Forbidden: the caller may not use the gateway, the
            user is in no team granted it, or the user is a Super admin and the caller is not.
    """
    expires_at = None if args.expires_in is None else time.time() + int(args.expires_in)
    with ctx.transaction() as conn:
        target = fetch_named(conn, gateways, args.gateway, "gateway")
        ctx.require_gateway(target.id, target.name)
        host = fetch_named(conn, hosts, args.host, "host")
        email = args.user or ensure_agent(conn, host.name)
        holder = fetch_user_actor(conn, email)
        refusal = resolve_mint_refusal(ctx.actor, holder, target.id, target.name, agent=args.user is None)
        if refusal is not None:
            raise Forbidden(refusal)
        public_id, token = store.save_token(
            conn, ctx.token_key, host.name, target.name, args.user, minted_by=ctx.actor.user_id,
            private_identities=can_use_private_identities(ctx.actor, holder), expires_at=expires_at,
        )  # fmt: skip
        after = _view(store.fetch_token(conn, public_id))
        ctx.record(conn, "api_token", public_id, None, after.model_dump())
        if can_receive_tokens(load_webhook_setter(conn, host.id), target.id):
            data = {"host": after.host, "gateway": after.gateway, "user": after.user, "token_id": public_id}
            enqueue_token_delivery(conn, ctx.vault, host.id, data | {"token": token})
    return NewApiToken(**after.model_dump(), token=token)


def _target(ctx: Context, conn: Connection, public_id: str) -> Row[Any]:
    row = store.fetch_token(conn, public_id)
    ctx.require_gateway(row.gateway_id, row.gateway, f"no token with id {public_id!r}")
    return row


def revoke_token(ctx: Context, args: TokenRef) -> ApiToken:
    """Revoke a token: it is refused from the next request on. Revoking it again changes nothing."""
    with ctx.transaction() as conn:
        before = _view(_target(ctx, conn, args.token))
        if before.revoked_at is not None:
            return before
        after = _view(store.save_revocation(conn, args.token))
        ctx.record(conn, "api_token", args.token, before.model_dump(), after.model_dump())
    return after


_MANAGE = Capability.CREATE_AND_MANAGE_API_TOKENS
OPERATIONS = [
    Operation("tokens", "list", "GET", "/tokens", "List API tokens", _MANAGE, list_tokens, TokenList,
              Page[ApiToken], columns=("id", "host", "gateway", "user", "expires_at", "revoked_at")),
    Operation("tokens", "create", "POST", "/tokens", "Mint an API token", _MANAGE, create_token, TokenCreate,
              NewApiToken, status=201, reveals="token"),
    Operation("tokens", "revoke", "POST", "/tokens/{token}/revoke", "Revoke an API token", _MANAGE,
              revoke_token, TokenRef, ApiToken),
]  # fmt: skip

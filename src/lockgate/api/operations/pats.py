"""Personal access tokens: the caller's own tokens for the control plane — list, create, revoke.

A token is shown once, when it is created, and stored only as a keyed hash (as API tokens are).
Listings and admin events never hold the token or its hash. A revoked or expired token is refused
(401) from its very next request: every request reads the token afresh
(``store.people.load_actor``). Lifetimes: 0 = never expires, default 90 days, up to a year.
"""

from __future__ import annotations

import time

from pydantic import BaseModel, Field
from sqlalchemy import Connection, select

from lockgate.api.errors import BadRequest
from lockgate.api.operation import Context, Input, Operation
from lockgate.api.operations.common import ListInput, Page
from lockgate.api.operations.roles import require_grantable
from lockgate.domain.capabilities import Capability
from lockgate.policy.access_control import EVERYONE
from lockgate.store import people as store
from lockgate.store.schema import roles

DAY = 86_400.0


class PersonalAccessToken(BaseModel):
    id: str = Field(description="The public id (pat_...): names the token without revealing it.")
    name: str
    created_at: float
    expires_at: float | None = Field(description="Null: never expires.")
    revoked_at: float | None


class NewPersonalAccessToken(PersonalAccessToken):
    token: str = Field(description="The token (lgp_...). Shown this once; store it now.")


class TokenList(ListInput):
    active: bool | None = Field(None, description="True: only usable tokens; false: only revoked or expired.")


class TokenCreate(Input):
    name: str = Field(min_length=1, max_length=128, description="What the token is for.")
    expires_in_days: int = Field(90, ge=0, le=365, description="Lifetime in days; 0: never expires.")


class TokenIssue(TokenCreate):
    email: str = Field(min_length=3, max_length=320, description="The user the token acts as.")


class TokenRef(Input):
    pat: str = Field(pattern=r"^pat_[0-9a-f]{12}$", description="The token's public id.")


def _user_id(ctx: Context) -> int:
    if ctx.actor.user_id is None:
        raise BadRequest("the instance operator has no personal access tokens")
    return ctx.actor.user_id


def list_tokens(ctx: Context, args: TokenList) -> Page[PersonalAccessToken]:
    """The caller's own tokens, oldest first; never the tokens themselves."""
    with ctx.transaction() as conn:
        items, cursor = store.list_personal_access_tokens(
            conn, _user_id(ctx), active=args.active, now=time.time(), cursor=args.cursor, limit=args.limit
        )
    return Page[PersonalAccessToken](
        items=[PersonalAccessToken.model_validate(i) for i in items], next_cursor=cursor
    )


def create_token(ctx: Context, args: TokenCreate) -> NewPersonalAccessToken:
    """Mint a token for the caller. The answer holds it once; the admin event does not."""
    with ctx.transaction() as conn:
        return _mint(ctx, conn, _user_id(ctx), args)


def issue_token(ctx: Context, args: TokenIssue) -> NewPersonalAccessToken:
    """Mint a personal access token for another user — how an invited user gets their first one —
    shown once to the caller, who hands it over. Only for a user whose role holds nothing the
    caller's role lacks: a token acts with all of its user's capabilities.

    Raises:
        NotFound: no such user. Forbidden: the user holds a capability the caller lacks.
    """
    with ctx.transaction() as conn:
        user = store.fetch_user(conn, args.email)
        role = conn.execute(select(roles).where(roles.c.id == user.role_id)).one()
        held = store.role_capabilities(role.name, role.capabilities)
        require_grantable(ctx, held, f"A token for {user.email!r}, who holds role {role.name!r}")
        return _mint(ctx, conn, user.id, args)


def _mint(ctx: Context, conn: Connection, user_id: int, args: TokenCreate) -> NewPersonalAccessToken:
    expires_at = time.time() + args.expires_in_days * DAY if args.expires_in_days else None
    row, token = store.create_personal_access_token(conn, ctx.token_key, user_id, args.name, expires_at)
    after = store.describe_personal_access_token(row)
    ctx.record(conn, "personal_access_token", after["id"], None, after)
    return NewPersonalAccessToken(**after, token=token)


def revoke_token(ctx: Context, args: TokenRef) -> PersonalAccessToken:
    """Revoke one of the caller's tokens; it is refused from its next request on.

    Raises:
        NotFound: the caller has no token with that id (another user's token is not theirs).
        Conflict: it is already revoked.
    """
    with ctx.transaction() as conn:
        row = store.fetch_personal_access_token(conn, _user_id(ctx), args.pat)
        before = store.describe_personal_access_token(row._mapping)
        revoked = store.revoke_personal_access_token(conn, row, time.time())
        after = store.describe_personal_access_token(revoked._mapping)
        ctx.record(conn, "personal_access_token", args.pat, before, after)
    return PersonalAccessToken.model_validate(after)


_P = "/personal-access-tokens"
OPERATIONS = [
    Operation("pats", "list", "GET", _P, "List your personal access tokens", EVERYONE, list_tokens, TokenList,
              Page[PersonalAccessToken], columns=("id", "name", "expires_at", "revoked_at")),
    Operation("pats", "create", "POST", _P, "Create a personal access token", EVERYONE, create_token,
              TokenCreate, NewPersonalAccessToken, status=201, reveals="token"),
    Operation("users", "create-token", "POST", "/users/{email}/personal-access-tokens",
              "Create a personal access token for a user", Capability.MANAGE_PEOPLE, issue_token,
              TokenIssue, NewPersonalAccessToken, status=201, reveals="token"),
    Operation("pats", "revoke", "POST", _P + "/{pat}/revoke", "Revoke one of your personal access tokens",
              EVERYONE, revoke_token, TokenRef, PersonalAccessToken),
]  # fmt: skip

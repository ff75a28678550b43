"""The caller themself: who they are, what their role holds, their teams and their gateways."""

from __future__ import annotations

from pydantic import BaseModel, Field

from lockgate.api.operation import Context, NoInput, Operation
from lockgate.domain.capabilities import Capability
from lockgate.policy.access_control import EVERYONE, resolve_visible_gateways
from lockgate.store.people import list_usable_gateways, list_user_teams


class Me(BaseModel):
    email: str
    role: str
    capabilities: list[Capability] = Field(description="What the caller's role holds, as sorted keys.")
    teams: list[str]
    gateways: list[str] = Field(description="The live gateways the caller may use, by name.")


def get_me(ctx: Context, _args: NoInput) -> Me:
    """The caller as the control plane sees them on this request (read fresh, as every request)."""
    with ctx.transaction() as conn:
        teams = list_user_teams(conn, ctx.actor.user_id)
        gateways = list_usable_gateways(conn, resolve_visible_gateways(ctx.actor))
    return Me(
        email=ctx.actor.email,
        role=ctx.actor.role,
        capabilities=sorted(ctx.actor.capabilities),
        teams=teams,
        gateways=gateways,
    )


OPERATIONS = [
    Operation("me", "get", "GET", "/me", "Who am I", EVERYONE, get_me, NoInput, Me),
]

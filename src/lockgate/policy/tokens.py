"""Who may be handed an API token, and whether it calls as its user's private identities (product
spec §5.3, §4.2, §6.1), as pure functions over the minter and the user the token acts as.

An API token acts as one user (its *holder*) towards one gateway. Minting it for someone else must
not hand over what is theirs alone: the holder's private identities travel with the token only when
the holder minted it themselves (the connection link, or their own API call) or the minter may
manage other people's identities (*Identity management*), which lets them use those identities
anyway. A token acting as a Super admin comes only from a Super admin (or the instance operator).
A person's token reaches only a gateway their own teams are granted (or their role may use every
gateway); the host's agent user, which stands for the host itself and has no teams, is exempt.
A host's webhook receives a minted token only for a gateway whoever set its URL may use.
"""

from __future__ import annotations

from lockgate.domain.actor import Actor
from lockgate.domain.capabilities import BuiltinRole, Capability
from lockgate.policy.access_control import can_use_gateway


def resolve_mint_refusal(
    minter: Actor, holder: Actor, gateway_id: int, gateway: str, *, agent: bool
) -> str | None:
    """None when ``minter`` may mint a token acting as ``holder`` on the gateway, else why not;
    ``agent`` is True for the host's own agent user. The minter's own right to the gateway is
    checked apart (``Context.require_gateway``)."""
    if holder.role == BuiltinRole.SUPER_ADMIN and not _is_super_admin(minter):
        return f"only a Super admin may mint a token acting as Super admin {holder.email!r}"
    if not agent and not can_use_gateway(holder, gateway_id):
        return f"user {holder.email!r} is in no team granted gateway {gateway!r}"
    return None


def can_use_private_identities(minter: Actor, holder: Actor) -> bool:
    """Whether a token ``minter`` mints for ``holder`` calls as the holder's private identities:
    it is their own, or the minter may manage identities."""
    if minter.user_id is not None and minter.user_id == holder.user_id:
        return True
    return Capability.IDENTITY_MANAGEMENT in minter.capabilities


def _is_super_admin(actor: Actor) -> bool:
    """A Super admin, or the instance operator (no user: the CLI on the store's own machine)."""
    return actor.user_id is None or actor.role == BuiltinRole.SUPER_ADMIN


def can_receive_tokens(setter: Actor | None, gateway_id: int) -> bool:
    """Whether a host's webhook receives the tokens minted for the gateway: whoever last set its URL
    (``setter``; None: the instance operator, or set before this was recorded) may use the gateway,
    so moving a webhook never brings in tokens of gateways its mover cannot use."""
    return setter is None or can_use_gateway(setter, gateway_id)

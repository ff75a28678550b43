"""Capability-based access control (product spec §6.1), as pure functions over values.

An action is allowed when the actor's role holds the capability it needs AND, for an action on a
gateway, one of the actor's teams is granted that gateway — unless the role holds the matching
"view all" capability, which overrides team scoping.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Final, Literal

from lockgate.domain.actor import Actor
from lockgate.domain.capabilities import Capability

EVERYONE: Final = "everyone"
"""The requirement of actions any signed-in user may take, on what is theirs or what they can see."""

Requirement = Capability | Literal["everyone"]


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why an action is refused: the capability that would allow it, and a message naming it."""

    capability: Capability
    message: str


def resolve_refusal(actor: Actor, requirement: Requirement) -> Refusal | None:
    """None when the actor's role meets ``requirement``; otherwise the capability it lacks."""
    if requirement == EVERYONE or requirement in actor.capabilities:
        return None
    capability = Capability(requirement)
    return Refusal(capability, f"Capability '{capability.label}' is required.")


def can_use_gateway(actor: Actor, gateway_id: int) -> bool:
    """Whether one of the actor's teams is granted the gateway, or the role may use them all."""
    return is_entitled(actor.capabilities, gateway_id in actor.gateway_ids)


def is_entitled(capabilities: Collection[Capability], granted: bool) -> bool:
    """Whether someone may use a gateway: one of their teams is ``granted`` it, or their role holds
    "View and use all gateways" (product spec §6.1). The control plane and the data plane both ask."""
    return granted or Capability.VIEW_AND_USE_ALL_GATEWAYS in capabilities


def resolve_visible_gateways(actor: Actor) -> frozenset[int] | None:
    """The ids of the gateways the actor may use; None when the role may use them all."""
    if Capability.VIEW_AND_USE_ALL_GATEWAYS in actor.capabilities:
        return None
    return actor.gateway_ids


def resolve_visible_logs(actor: Actor) -> frozenset[int] | Literal["any"] | None:
    """Whose traffic log and admin events the actor reads (with "View and export logs"): None, all
    of them ("View all logs"); ``"any"``, those of any gateway ("View and use all gateways"); else
    those of the gateways their teams are granted."""
    if Capability.VIEW_ALL_LOGS in actor.capabilities:
        return None
    visible = resolve_visible_gateways(actor)
    return "any" if visible is None else visible


def can_see_server(actor: Actor, gateway_ids: Iterable[int]) -> bool:
    """Whether the actor sees a server assigned to ``gateway_ids``: the server is on a gateway they
    may use, or their role may view all servers."""
    if Capability.VIEW_ALL_SERVERS in actor.capabilities:
        return True
    return any(can_use_gateway(actor, g) for g in gateway_ids)


def resolve_webhook_refusal(actor: Actor, host: str, served: Iterable[int]) -> Refusal | None:
    """None when the actor may change where host ``host``'s minted tokens are delivered (its webhook
    URL or signing secret): they may use every gateway in ``served`` (the ids of the gateways the
    host has connections to), whose tokens the webhook receives. Otherwise a refusal naming "View
    and use all gateways" but not the gateways the actor may not use: those they do not see, and
    their names are not to be probed (see ``Context.require_gateway``)."""
    if all(can_use_gateway(actor, gateway_id) for gateway_id in served):
        return None
    capability = Capability.VIEW_AND_USE_ALL_GATEWAYS
    return Refusal(
        capability,
        f"Capability '{capability.label}' is required, or membership of teams granted every gateway "
        f"host {host!r} serves, to change where its tokens are delivered: it serves a gateway "
        "outside your teams.",
    )

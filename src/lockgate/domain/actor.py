"""Who is calling the control plane."""

from __future__ import annotations

from dataclasses import dataclass

from lockgate.domain.capabilities import Capability


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is calling the control plane, as read from the store for this one request.

    ``user_id`` is None for the instance operator (the CLI on the store's own machine).
    ``gateway_ids`` are the gateways granted to the actor's teams.
    """

    user_id: int | None
    email: str
    role: str
    capabilities: frozenset[Capability]
    gateway_ids: frozenset[int]

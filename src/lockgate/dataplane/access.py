"""Whether a message may reach the server an assignment names, for the calling user: the pure
decisions used by the pipeline's first step (``steps.ResolveAccess``), by the lists (a server refused
here is absent from them, product spec §4.2) and by routing (``may_ask``).

A disabled server is refused with -32013 ``server_disabled``; a missing, disabled or unready identity
with -32014 and its reason (``policy/identities.py``), with ``connect_url`` when the user can bring it.
"""

from __future__ import annotations

from urllib.parse import urlencode

from lockgate.dataplane.errors import IDENTITY_REQUIRED, REFUSED, Refusal
from lockgate.domain.model import Assignment, Principal
from lockgate.policy.identities import resolve_identity_refusal

SERVER_DISABLED = "server_disabled"


def connect_url(public_url: str, principal: Principal) -> str:
    """Where this user brings their identities for this gateway: the host's connection link."""
    query = urlencode({"gateway": principal.gateway})
    return f"{public_url}/connect/{principal.host_link_id}?{query}"


def resolve_access(assignment: Assignment, public_url: str, principal: Principal) -> Refusal | None:
    """None when a message may go to ``assignment``'s server for ``principal``; else the refusal to
    answer with, naming the user's connection link (``connect_url``) when they can fix it there."""
    name = assignment.server.name
    if not assignment.server.enabled:
        return Refusal(REFUSED, f"server {name!r} is disabled", SERVER_DISABLED, server=name)
    refused = resolve_identity_refusal(assignment)
    if refused is None:
        return None
    if not refused.user_can_connect:
        return Refusal(IDENTITY_REQUIRED, refused.message, refused.reason, server=name)
    connect_at = connect_url(public_url, principal)
    message = f"{refused.message} (connect at {connect_at})"
    return Refusal(IDENTITY_REQUIRED, message, refused.reason, server=name, connect_url=connect_at)


def may_ask(assignment: Assignment) -> bool:
    """Whether the gateway may ask the server for its features as the calling user (its identity is
    present, enabled and ready). A disabled server still may: a call routed to it is then refused
    by name rather than answered as unknown."""
    return resolve_identity_refusal(assignment) is None

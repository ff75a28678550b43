"""Audit entries: one row per leg of a message's journey through the gateway (product spec §7.2)."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from enum import StrEnum


class Leg(StrEnum):
    """The legs of one client message, in the order they happen.

    A forwarded call has four: the client's request reaches the gateway (``proxy_request``), the
    gateway forwards it (``mcp_request``), the server answers (``mcp_response``), the gateway answers
    the client (``proxy_response``). A message the gateway refuses before it reaches a server has
    ``proxy_request``, ``gateway_refused`` and ``proxy_response``; one refused because provisioning
    withholds its feature has ``gateway_feature_blocked`` (its reason in ``error``) instead of
    ``gateway_refused``. One a gateway rule stops has ``policy_enforced_abort`` (the rule in ``error``
    and ``rules``) in place of ``mcp_request`` when it stopped the request, or after ``mcp_response``
    when it stopped the response; so does one refused because the gateway's rules cannot be read.
    A list from which provisioning hid features adds one ``gateway_feature_filtered`` per server
    (how many, and per reason, in ``error``). A message served by the gateway itself
    (``initialize``, ``ping``) has only the two proxy legs.
    """

    PROXY_REQUEST = "proxy_request"
    MCP_REQUEST = "mcp_request"
    MCP_RESPONSE = "mcp_response"
    PROXY_RESPONSE = "proxy_response"
    GATEWAY_REFUSED = "gateway_refused"
    GATEWAY_FEATURE_BLOCKED = "gateway_feature_blocked"
    GATEWAY_FEATURE_FILTERED = "gateway_feature_filtered"
    POLICY_ENFORCED_ABORT = "policy_enforced_abort"


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One leg. ``type`` is ``<leg>_success`` or ``<leg>_error`` (the ``gateway_*`` legs have no suffix).

    ``body`` and ``headers`` are JSON text with secret keys already replaced by ``[REDACTED]``; a
    body that could not be stored as is (too deep to serialize, refused by the store, sent by a
    caller not authenticated) is a degraded note instead (``degraded_body``);
    ``rules`` is JSON text, the list of what gateway rules did on this leg
    (``domain.rules.RuleOutcome.to_json``: rule id, name, action, match count; never matched text);
    ``duration_ms`` is the time since the client message reached the gateway (for response legs)
    or the time the upstream took (``mcp_response``).
    """

    correlation_id: str
    type: str
    created_at: float  # seconds since the epoch
    method: str | None = None
    feature_name: str | None = None
    user_email: str | None = None
    host: str | None = None
    gateway: str | None = None
    server: str | None = None
    status: int | None = None  # HTTP status for proxy legs, JSON-RPC error code for failures
    duration_ms: float | None = None
    error: str | None = None
    body: str | None = None
    headers: str | None = None
    rules: str | None = None


DEGRADED_HEAD_CHARS = 1024  # how much of a degraded body is kept, at most
DEGRADED_FIELD_CHARS = 256  # how much of each text column a degraded entry keeps


def degraded_body(reason: str, size: int | None = None, head: str | None = None) -> str:
    """The JSON text stored instead of a body that cannot be stored as is.

    Shape: ``{"degraded": reason, "bytes": size, "head": text}``, ``bytes`` and ``head`` present when
    known; ``head`` is at most ``DEGRADED_HEAD_CHARS`` characters of the body. A stored JSON-RPC
    body always has a ``jsonrpc`` key and a degraded one never does, so the two cannot be confused.
    Callers decide whether ``head`` may be kept (it must hold no secret).
    """
    note: dict[str, object] = {"degraded": reason}
    if size is not None:
        note["bytes"] = size
    if head is not None:
        note["head"] = head[:DEGRADED_HEAD_CHARS]
    return json.dumps(note, ensure_ascii=True)


def degrade_entry(entry: AuditEntry, reason: str) -> AuditEntry:
    """The entry as it can always be stored: every text column escaped to ASCII without NUL and cut
    to ``DEGRADED_FIELD_CHARS``, the headers dropped and the body replaced by a degraded note.

    For a row the store refused (PostgreSQL rejects NUL in text, a column may overflow): the leg is
    still there, with its correlation id, type, time and status, and says why it is incomplete.
    """
    return replace(
        entry,
        method=_plain_text(entry.method),
        feature_name=_plain_text(entry.feature_name),
        user_email=_plain_text(entry.user_email),
        host=_plain_text(entry.host),
        gateway=_plain_text(entry.gateway),
        server=_plain_text(entry.server),
        error=_plain_text(entry.error),
        headers=None,
        body=degraded_body(reason, len(entry.body) if entry.body is not None else None),
    )


def bounded_text(text: str | None) -> str | None:
    """``text`` cut to ``DEGRADED_FIELD_CHARS`` characters (what a stranger's text columns keep)."""
    return None if text is None else text[:DEGRADED_FIELD_CHARS]


def _plain_text(text: str | None) -> str | None:
    if text is None:
        return None
    return bounded_text(text.encode("ascii", "backslashreplace").decode("ascii").replace("\x00", "\\x00"))

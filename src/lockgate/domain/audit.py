"""Audit entries: one row per leg of a message's journey through the gateway (product spec §7.2)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Leg(StrEnum):
    """The legs of one client message, in the order they happen.

    A forwarded call has four: the client's request reaches the gateway (``proxy_request``), the
    gateway forwards it (``mcp_request``), the server answers (``mcp_response``), the gateway answers
    the client (``proxy_response``). A message the gateway refuses before it reaches a server has
    ``proxy_request``, ``gateway_refused`` and ``proxy_response``. A message served by the gateway
    itself (``initialize``, ``ping``) has only the two proxy legs.
    """

    PROXY_REQUEST = "proxy_request"
    MCP_REQUEST = "mcp_request"
    MCP_RESPONSE = "mcp_response"
    PROXY_RESPONSE = "proxy_response"
    GATEWAY_REFUSED = "gateway_refused"


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One leg. ``type`` is ``<leg>_success`` or ``<leg>_error`` (``gateway_refused`` has no suffix).

    ``body`` and ``headers`` are JSON text with secret keys already replaced by ``[REDACTED]``;
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

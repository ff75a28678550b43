"""The resource model: servers, gateways and their assignments, hosts, users, connections, API tokens.

Plain frozen values. The store maps them to rows; the data plane reads them; nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum


class Transport(StrEnum):
    """How the gateway reaches a server."""

    STDIO = "stdio"
    HTTP = "http"  # Streamable HTTP, either protocol era
    SSE = "sse"  # the deprecated HTTP+SSE transport (2024-11-05)


class HostKind(StrEnum):
    """How a host authenticates. Only token-based hosts exist so far."""

    TOKEN = "token"


@dataclass(frozen=True, slots=True)
class Server:
    """An upstream MCP server.

    stdio servers use ``command``/``args``/``env``/``cwd``; http and sse servers use ``url`` and
    ``headers`` (static headers sent on every upstream request). ``revision`` changes whenever the
    configuration changes, so pooled upstream connections can be replaced.
    """

    id: int
    name: str
    transport: Transport
    enabled: bool = True
    command: str | None = None
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: str | None = None
    url: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    revision: str = ""


@dataclass(frozen=True, slots=True)
class Assignment:
    """A server assigned to a gateway, with an optional name prefix (namespacing)."""

    id: int
    server: Server
    prefix: str | None = None


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling, resolved from an API token: token → connection → host, gateway, user."""

    token_id: int
    connection_id: int
    host: str
    gateway_id: int
    gateway: str
    user_id: int
    user_email: str


@dataclass(frozen=True, slots=True)
class Access:
    """Everything one data-plane request needs to know, read fresh from the store on every request.

    The enabled flags are the break-glass toggles (product spec §5.4): they are never cached.
    """

    principal: Principal
    token_revoked: bool
    host_enabled: bool
    connection_enabled: bool
    gateway_enabled: bool
    gateway_archived: bool
    user_active: bool
    assignments: tuple[Assignment, ...]

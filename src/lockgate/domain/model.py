"""The resource model: servers, gateways and their assignments, hosts, users, connections, API tokens.

Plain frozen values. The store maps them to rows; the data plane reads them; nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from lockgate.domain.capabilities import Capability
from lockgate.domain.provisioning import OPEN, Provisioning


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

    stdio servers use ``command``/``args``/``env``/``cwd``, and ``identity_env`` names the environment
    variables an identity may set for them; http and sse servers use ``url`` and ``headers`` (static
    headers sent on every upstream request). ``revision`` changes whenever the
    configuration changes, so pooled upstream connections can be replaced.
    """

    id: int
    name: str
    transport: Transport
    enabled: bool = True
    command: str | None = None
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    identity_env: frozenset[str] = frozenset()
    cwd: str | None = None
    url: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    revision: str = ""


class IdentityKind(StrEnum):
    """What an identity holds."""

    NONE = "none"  # no credential: the server needs none
    HEADERS = "headers"  # header values (API key, ``Authorization: Bearer ...``); env values for stdio
    OAUTH = "oauth"  # an OAuth access token (and refresh token) obtained by Lockgate as the client


class Availability(StrEnum):
    """Who may use an identity: its owner alone, or anyone (a gateway's shared service account)."""

    PRIVATE = "private"
    GLOBAL = "global"


class IdentityStatus(StrEnum):
    READY = "ready"
    PENDING = "pending"  # an OAuth identity whose authorization has not completed
    NEEDS_REAUTHORIZATION = "needs_reauthorization"  # its refresh token was refused


class IdentityScheme(StrEnum):
    """Whose credential a server assignment uses upstream."""

    NONE = "none"  # none brokered: the server's own configuration only
    SHARED = "shared"  # one identity chosen for everyone on the gateway (a service account)
    PER_USER = "per_user"  # each user brings their own identity


@dataclass(frozen=True, slots=True)
class Credential:
    """An identity opened for the data plane: what it attaches upstream on every request.

    ``values`` are header values for http and sse servers and environment variables for stdio
    servers; an OAuth identity's is ``{"Authorization": "Bearer <access token>"}``. ``version``
    changes with every change to the identity, so pooled upstream sessions can be replaced.
    """

    identity_id: int
    name: str
    kind: IdentityKind
    enabled: bool
    status: IdentityStatus
    version: int
    values: Mapping[str, str] = field(default_factory=dict, repr=False)
    expires_at: float | None = None  # unix seconds; OAuth only


@dataclass(frozen=True, slots=True)
class Assignment:
    """A server assigned to a gateway under a name (default the server's), with an optional name
    prefix (namespacing) and an identity scheme. ``credential`` is the identity resolved for the
    calling user (None: none needed, none chosen, or none brought). ``provisioning`` says which of
    its server's features pass (``policy.provisioning``)."""

    id: int
    server: Server
    prefix: str | None = None
    name: str = ""
    scheme: IdentityScheme = IdentityScheme.NONE
    credential: Credential | None = None
    provisioning: Provisioning = OPEN

    @property
    def identity_key(self) -> int:
        """Which identity's upstream sessions serve this assignment (0: the server's own)."""
        return self.credential.identity_id if self.credential is not None else 0


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
    host_link_id: str = ""  # the host's connection link, where a user brings missing identities
    teams: frozenset[int] = frozenset()  # the user's team ids (team-limited approvals)


@dataclass(frozen=True, slots=True)
class Sponsor:
    """The user an API token stands on (product spec §6.1): the user it acts as, or, for a host's
    agent user, whoever minted it. ``granted``: one of their teams is granted the token's gateway."""

    email: str
    active: bool
    capabilities: frozenset[Capability]
    granted: bool


@dataclass(frozen=True, slots=True)
class Access:
    """Everything one data-plane request needs to know, read fresh from the store on every request.

    The enabled flags are the break-glass toggles: they are never cached, and neither is the
    sponsor's standing (None: a token the instance operator minted).
    """

    principal: Principal
    token_revoked: bool
    token_expires_at: float | None  # Unix seconds; None: never expires
    host_enabled: bool
    connection_enabled: bool
    gateway_enabled: bool
    gateway_archived: bool
    user_active: bool
    sponsor: Sponsor | None
    assignments: tuple[Assignment, ...]
    change: int | None = None  # the store's access counter this was read under (None: not counted)

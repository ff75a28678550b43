"""The declarative file ``lockgate plan|apply -f`` reads and ``lockgate export`` writes: servers,
rule engines (never their secrets), gateways (with their assignments, granted teams and rules),
hosts (with their webhook URL, never its signing secret), teams, roles, and users with their role
and teams.

Validation errors name the offending field (pydantic's location, e.g. ``servers.0.url``).
Users are never deleted by a declaration (deactivate them with ``users update``).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from lockgate.domain.capabilities import BuiltinRole, Capability
from lockgate.domain.declared_provisioning import (
    MAX_APPROVALS,
    ApprovalSpec,
    DeclaredModes,
    MetadataFilterSpec,
    canonical_approvals,
    check_modes,
    declared_modes,
    resolve_modes,
)
from lockgate.domain.model import HostKind, IdentityScheme, Transport
from lockgate.domain.rule_specs import RuleEngineSpec, RuleSpec
from lockgate.domain.upstream_values import (
    UpstreamValueError,
    check_headers,
    check_identity_env_name,
    check_server_env,
)
from lockgate.domain.webhook_url import WebhookUrl

NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"
PREFIX = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"
IDENTITY_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.@+/-]{0,159}$"
"""An identity's name: a name's characters and ``@ + /``, for the default ``<email>/<server>``."""
EMAIL = r"^[^@\s]+@[^@\s]+$"
Name = Annotated[str, Field(pattern=NAME)]
IdentityName = Annotated[str, Field(pattern=IDENTITY_NAME)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerSpec(_Strict):
    name: Name
    transport: Transport
    enabled: bool = True
    command: str | None = None
    args: list[str] = []
    env: dict[str, str] = {}
    identity_env: list[str] = Field(
        [],
        max_length=64,
        description="stdio servers: the environment variables its identities fill (e.g. GITHUB_TOKEN); "
        "an identity may set these and no other. Loader and interpreter variables (LD_*, PYTHON*, "
        "NODE_OPTIONS, PATH ...) are never allowed.",
    )
    cwd: str | None = None
    url: str | None = None
    headers: dict[str, str] = {}
    oauth_client_id: str | None = Field(None, max_length=512)
    oauth_client_secret: str | None = Field(None, max_length=4096)
    oauth_scopes: str | None = Field(None, max_length=2048)

    @model_validator(mode="after")
    def _fits_transport(self) -> Self:
        if self.oauth_client_secret is not None and self.oauth_client_id is None:
            raise ValueError(f"server {self.name!r}: 'oauth_client_secret' needs 'oauth_client_id'")
        if self.transport is Transport.STDIO:
            if not self.command:
                raise ValueError(f"server {self.name!r}: a stdio server needs 'command'")
            if self.url or self.headers:
                raise ValueError(f"server {self.name!r}: 'url' and 'headers' are for http and sse servers")
            if self.oauth_client_id or self.oauth_scopes:
                raise ValueError(f"server {self.name!r}: the 'oauth_*' settings are for http and sse servers")
            self._check_env()
        else:
            if not self.url or not re.match(r"^https?://", self.url):
                raise ValueError(f"server {self.name!r}: an {self.transport} server needs an http(s) 'url'")
            if self.command or self.args or self.env or self.identity_env or self.cwd:
                raise ValueError(
                    f"server {self.name!r}: 'command', 'args', 'env', 'identity_env', 'cwd' are for "
                    "stdio servers"
                )
            try:
                check_headers({k: v or "" for k, v in self.headers.items()})  # None: kept as stored
            except UpstreamValueError as exc:
                raise ValueError(f"server {self.name!r}: {exc}") from None
        return self

    def _check_env(self) -> None:
        """Raises ValueError unless ``env`` and ``identity_env`` pass the upstream validator and no
        name is in both (an identity never overrides the server's own environment)."""
        try:
            check_server_env({k: v or "" for k, v in self.env.items()})  # None: kept as stored
            for name in self.identity_env:
                check_identity_env_name(name)
        except UpstreamValueError as exc:
            raise ValueError(f"server {self.name!r}: {exc}") from None
        both = sorted(set(self.identity_env) & set(self.env))
        if both:
            raise ValueError(f"server {self.name!r}: {both[0]!r} is in both 'env' and 'identity_env'")

    def destination(self) -> tuple[object, ...]:
        """Where the server's secrets and its identities' credentials go: its transport and URL, or
        the command a stdio server runs (with its args and cwd). They were given for this destination
        only, so they never follow the server to another one: a change of destination drops every
        stored secret not given again with it, and the server's identities."""
        if self.transport is Transport.STDIO:
            return (self.transport, self.command, tuple(self.args), self.cwd)
        return (self.transport, self.url)

    def config(self) -> dict[str, object]:
        """The transport-specific configuration, secrets included (the store seals them apart);
        ``identity_env`` and the ``oauth_*`` settings only when set."""
        if self.transport is Transport.STDIO:
            config: dict[str, object] = {"command": self.command, "args": self.args, "env": self.env}
            if self.identity_env:  # only when set: the revisions of servers without it stay as they were
                config["identity_env"] = sorted(set(self.identity_env))
            return config | {"cwd": self.cwd}
        oauth = {
            "oauth_client_id": self.oauth_client_id,
            "oauth_client_secret": self.oauth_client_secret,
            "oauth_scopes": self.oauth_scopes,
        }
        remote: dict[str, object] = {"url": self.url, "headers": self.headers}
        return remote | {k: v for k, v in oauth.items() if v is not None}


class DeclaredServer(ServerSpec):
    """A server as a declaration holds it. An ``env`` or ``headers`` value of None keeps the value
    already stored, and so does an ``oauth_client_secret`` of None while ``oauth_client_id`` is set:
    exports never carry these values, which are often secrets."""

    env: dict[str, str | None] = {}  # type: ignore[assignment]
    headers: dict[str, str | None] = {}  # type: ignore[assignment]


class AssignmentSpec(_Strict):
    """A server on a gateway under ``name`` (None: the server's name, which is how it is stored and
    exported), with an optional prefix for its features' names and an identity scheme; ``identity``
    names the global identity of the server that the shared scheme uses, and only it.

    ``provisioning``, ``approvals`` and ``metadata_filter`` (``domain.declared_provisioning``): None
    keeps what an existing assignment has; a new one is then fail-closed (``allow_selected`` for
    every kind, nothing approved, nothing filtered). Exports give all three.
    """

    server: Name
    name: Name | None = None
    prefix: Annotated[str, Field(pattern=PREFIX)] | None = None
    identity_scheme: IdentityScheme = IdentityScheme.NONE
    identity: IdentityName | None = None
    provisioning: DeclaredModes | None = None
    approvals: Annotated[list[ApprovalSpec], Field(max_length=MAX_APPROVALS)] | None = None
    metadata_filter: MetadataFilterSpec | None = None

    @field_validator("provisioning", mode="before")
    @classmethod
    def _modes_canonical(cls, modes: Any) -> DeclaredModes | None:
        return None if modes is None else declared_modes(resolve_modes(check_modes(modes)))

    @field_validator("approvals")
    @classmethod
    def _approvals_canonical(cls, approvals: list[ApprovalSpec] | None) -> list[ApprovalSpec] | None:
        return None if approvals is None else canonical_approvals(approvals)

    @model_validator(mode="before")
    @classmethod
    def _default_name(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("name") is not None and data.get("name") == data.get("server"):
            data = {**data, "name": None}  # one spelling of the default, so plans do not differ
        return data

    @model_validator(mode="after")
    def _identity_fits_scheme(self) -> Self:
        # a shared assignment without an identity is a state the store can hold (its identity was
        # deleted; calls then fail with a clear error), so it loads; applying it is refused
        if self.identity_scheme is not IdentityScheme.SHARED and self.identity is not None:
            raise ValueError(
                f"assignment {self.assignment_name!r}: an 'identity' is chosen only for the shared scheme"
            )
        return self

    @property
    def assignment_name(self) -> str:
        """The name the assignment goes by on its gateway."""
        return self.name or self.server


class GatewaySpec(_Strict):
    """A gateway. ``rules`` run in their list's order (``domain.rule_specs.RuleSpec``); None keeps
    the rules stored (a new gateway then has none). Exports give them."""

    name: Name
    enabled: bool = True
    archived: bool = False
    servers: list[AssignmentSpec] = []
    teams: list[Name] = []
    rules: list[RuleSpec] | None = None

    @model_validator(mode="after")
    def _distinct(self) -> Self:
        names = [a.assignment_name for a in self.servers]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(
                    f"gateway {self.name!r}: two assignments are named {name!r}; give one a 'name'"
                )
        prefixes = [a.prefix for a in self.servers if a.prefix]
        for prefix in prefixes:
            if prefixes.count(prefix) > 1:
                raise ValueError(f"gateway {self.name!r}: two assignments share the prefix {prefix!r}")
        if len(set(self.teams)) < len(self.teams):
            raise ValueError(f"gateway {self.name!r}: a team is granted twice")
        rules = [r.name for r in self.rules or ()]
        if len(set(rules)) < len(rules):
            raise ValueError(f"gateway {self.name!r}: two rules share a name")
        return self


class HostSpec(_Strict):
    """A host. Its webhook's signing secret is never declared: Lockgate makes one when a webhook
    URL is first set, and ``hosts rotate-webhook-secret`` replaces it and shows it."""

    name: Name
    kind: HostKind = HostKind.TOKEN
    enabled: bool = True
    webhook_url: Annotated[WebhookUrl, Field(min_length=1)] | None = None


class UserSpec(_Strict):
    """A user, their role (by name; Super admin included) and the teams they are a member of."""

    email: Annotated[str, Field(max_length=320, pattern=EMAIL)]
    role: Annotated[str, Field(min_length=1, max_length=128)] = BuiltinRole.MEMBER.value
    teams: list[Name] = []

    @property
    def name(self) -> str:
        """What plans and admin events call the user: their email."""
        return self.email

    @model_validator(mode="after")
    def _teams_once(self) -> Self:
        if len(set(self.teams)) < len(self.teams):
            raise ValueError(f"user {self.email!r}: a team is named twice")
        return self


class TeamSpec(_Strict):
    name: Name


class RoleSpec(_Strict):
    """A role and its capabilities. Super admin is never declared: it always holds everything."""

    name: Name
    capabilities: list[Capability] = []

    @model_validator(mode="after")
    def _not_super_admin(self) -> Self:
        if self.name == BuiltinRole.SUPER_ADMIN:
            raise ValueError("Super admin always holds every capability and is not declared")
        return self


class DeclaredEngine(RuleEngineSpec):
    """A rule engine as a declaration holds it. A ``secret`` of None, or a header value of None,
    keeps the value stored: exports never carry them."""

    name: Name


class Declaration(_Strict):
    servers: list[DeclaredServer] = []
    rule_engines: list[DeclaredEngine] = []
    gateways: list[GatewaySpec] = []
    hosts: list[HostSpec] = []
    teams: list[TeamSpec] = []
    roles: list[RoleSpec] = []
    users: list[UserSpec] = []

    @model_validator(mode="after")
    def _references_resolve(self) -> Self:
        kinds: tuple[tuple[str, list[Any]], ...] = (
            ("server", self.servers),
            ("rule engine", self.rule_engines),
            ("gateway", self.gateways),
            ("host", self.hosts),
            ("team", self.teams),
            ("role", self.roles),
            ("user", self.users),
        )
        for kind, items in kinds:
            names = [i.name for i in items]
            twice = sorted({n for n in names if names.count(n) > 1})
            if twice:
                raise ValueError(f"{kind} {twice[0]!r} is declared twice")
        return self

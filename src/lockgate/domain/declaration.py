"""The declarative file ``lockgate plan|apply -f`` reads and ``lockgate export`` writes: servers,
gateways (with their assignments and granted teams), hosts, teams and roles.

Validation errors name the offending field (pydantic's location, e.g. ``servers.0.url``).
People (users) are not declared: they are invited, and later provisioned by SSO.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from lockgate.domain.capabilities import BuiltinRole, Capability
from lockgate.domain.model import HostKind, Transport

NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"
PREFIX = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"
Name = Annotated[str, Field(pattern=NAME)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerSpec(_Strict):
    name: Name
    transport: Transport
    enabled: bool = True
    command: str | None = None
    args: list[str] = []
    env: dict[str, str] = {}
    cwd: str | None = None
    url: str | None = None
    headers: dict[str, str] = {}

    @model_validator(mode="after")
    def _fits_transport(self) -> Self:
        if self.transport is Transport.STDIO:
            if not self.command:
                raise ValueError(f"server {self.name!r}: a stdio server needs 'command'")
            if self.url or self.headers:
                raise ValueError(f"server {self.name!r}: 'url' and 'headers' are for http and sse servers")
        else:
            if not self.url or not re.match(r"^https?://", self.url):
                raise ValueError(f"server {self.name!r}: an {self.transport} server needs an http(s) 'url'")
            if self.command or self.args or self.env or self.cwd:
                raise ValueError(
                    f"server {self.name!r}: 'command', 'args', 'env', 'cwd' are for stdio servers"
                )
        return self

    def config(self) -> dict[str, object]:
        """The transport-specific configuration as stored."""
        if self.transport is Transport.STDIO:
            return {"command": self.command, "args": self.args, "env": self.env, "cwd": self.cwd}
        return {"url": self.url, "headers": self.headers}


class DeclaredServer(ServerSpec):
    """A server as a declaration holds it. An ``env`` or ``headers`` value of None keeps the value
    already stored: exports never carry these values, which are often secrets."""

    env: dict[str, str | None] = {}  # type: ignore[assignment]
    headers: dict[str, str | None] = {}  # type: ignore[assignment]


class AssignmentSpec(_Strict):
    server: Name
    prefix: Annotated[str, Field(pattern=PREFIX)] | None = None


class GatewaySpec(_Strict):
    name: Name
    enabled: bool = True
    archived: bool = False
    servers: list[AssignmentSpec] = []
    teams: list[Name] = []

    @model_validator(mode="after")
    def _distinct(self) -> Self:
        names = [a.server for a in self.servers]
        for server in names:
            if names.count(server) > 1:
                raise ValueError(f"gateway {self.name!r}: server {server!r} is assigned twice")
        prefixes = [a.prefix for a in self.servers if a.prefix]
        for prefix in prefixes:
            if prefixes.count(prefix) > 1:
                raise ValueError(f"gateway {self.name!r}: two assignments share the prefix {prefix!r}")
        if len(set(self.teams)) < len(self.teams):
            raise ValueError(f"gateway {self.name!r}: a team is granted twice")
        return self


class HostSpec(_Strict):
    name: Name
    kind: HostKind = HostKind.TOKEN
    enabled: bool = True


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


class Declaration(_Strict):
    servers: list[DeclaredServer] = []
    gateways: list[GatewaySpec] = []
    hosts: list[HostSpec] = []
    teams: list[TeamSpec] = []
    roles: list[RoleSpec] = []

    @model_validator(mode="after")
    def _references_resolve(self) -> Self:
        kinds: tuple[tuple[str, list[Any]], ...] = (
            ("server", self.servers),
            ("gateway", self.gateways),
            ("host", self.hosts),
            ("team", self.teams),
            ("role", self.roles),
        )
        for kind, items in kinds:
            names = [i.name for i in items]
            twice = sorted({n for n in names if names.count(n) > 1})
            if twice:
                raise ValueError(f"{kind} {twice[0]!r} is declared twice")
        return self

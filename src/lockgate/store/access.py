"""The data plane's one read per request: token → connection → host, gateway, user, the token's
expiry and whether it calls as its user's private identities, its sponsor and whether they may
still use the gateway, and the gateway's servers, with every enabled flag read fresh (product spec
§5.4: "checked on every request, with no caching").

This is the hot path, so it is one indexed query, compiled once by SQLAlchemy and run on a dedicated
DBAPI connection (autocommit, so every read sees the latest commit). Only parsed server
configurations are reused, keyed by the server's ``revision``; the flags never are.
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import ColumnElement, Engine, Exists, ScalarSelect, case, func, literal_column, select

from lockgate.domain.model import (
    Access,
    Assignment,
    Availability,
    Credential,
    IdentityKind,
    IdentityScheme,
    IdentityStatus,
    Principal,
    Server,
    Sponsor,
    Transport,
)
from lockgate.store.people import role_capabilities
from lockgate.store.schema import (
    api_tokens,
    connections,
    gateway_servers,
    gateways,
    hosts,
    identities,
    identity_choices,
    roles,
    servers,
    team_gateways,
    team_members,
    users,
)
from lockgate.store.servers import load_config
from lockgate.vault import Vault, place

_own = identities.alias("own")
_sponsors = users.alias("sponsors")
_sponsor_roles = roles.alias("sponsor_roles")


def _newest_own(*, usable: bool) -> ScalarSelect[int]:
    own = (_own.c.server_id == gateway_servers.c.server_id) & (_own.c.owner_id == users.c.id)
    if usable:
        own &= _own.c.enabled & (_own.c.status == literal_column(f"'{IdentityStatus.READY.value}'"))
    return select(func.max(_own.c.id)).where(own).scalar_subquery()


def _granted() -> Exists:
    """Whether one of the sponsor's teams is granted the token's gateway."""
    return (
        select(team_members.c.team_id)
        .join(team_gateways, team_gateways.c.team_id == team_members.c.team_id)
        .where(
            (team_members.c.user_id == api_tokens.c.sponsor_id)
            & (team_gateways.c.gateway_id == gateways.c.id)
        )
        .correlate(api_tokens, gateways)
        .exists()
    )


def _literal(scheme: IdentityScheme) -> ColumnElement[str]:
    """A constant rendered into the SQL: the compiled query takes one parameter, the token hash."""
    return literal_column(f"'{scheme.value}'")


# The identity an assignment uses for the calling user (product spec §4.2): the shared scheme's chosen
# identity; for per-user, the user's choice for this assignment, else their newest own identity for
# the server that is enabled and ready, else their newest one (which then says why it is refused).
# None for the scheme "none".
_IDENTITY_ID = case(
    (gateway_servers.c.identity_scheme == _literal(IdentityScheme.SHARED), gateway_servers.c.identity_id),
    (
        gateway_servers.c.identity_scheme == _literal(IdentityScheme.PER_USER),
        func.coalesce(
            identity_choices.c.identity_id,
            _newest_own(usable=True),
            _newest_own(usable=False),
        ),
    ),
)

_QUERY = (
    select(
        api_tokens.c.id,
        api_tokens.c.revoked_at,
        connections.c.id,
        connections.c.enabled,
        hosts.c.name,
        hosts.c.enabled,
        gateways.c.id,
        gateways.c.name,
        gateways.c.enabled,
        gateways.c.archived,
        users.c.id,
        users.c.email,
        gateway_servers.c.id,
        gateway_servers.c.prefix,
        servers.c.id,
        servers.c.name,
        servers.c.transport,
        servers.c.enabled,
        servers.c.config,
        servers.c.revision,
        users.c.active,
        servers.c.secrets,
        gateway_servers.c.name,
        gateway_servers.c.identity_scheme,
        identities.c.id,
        identities.c.name,
        identities.c.kind,
        identities.c.enabled,
        identities.c.status,
        identities.c.version,
        identities.c.secret,
        identities.c.expires_at,
        hosts.c.link_id,
        api_tokens.c.expires_at,
        api_tokens.c.private_identities,
        identities.c.owner_id,
        identities.c.availability,
        _sponsors.c.email,
        _sponsors.c.active,
        _sponsor_roles.c.name,
        _sponsor_roles.c.capabilities,
        _granted(),
    )
    .join(connections, connections.c.id == api_tokens.c.connection_id)
    .join(hosts, hosts.c.id == connections.c.host_id)
    .join(gateways, gateways.c.id == connections.c.gateway_id)
    .join(users, users.c.id == connections.c.user_id)
    .outerjoin(_sponsors, _sponsors.c.id == api_tokens.c.sponsor_id)
    .outerjoin(_sponsor_roles, _sponsor_roles.c.id == _sponsors.c.role_id)
    .outerjoin(gateway_servers, gateway_servers.c.gateway_id == gateways.c.id)
    .outerjoin(servers, servers.c.id == gateway_servers.c.server_id)
    .outerjoin(
        identity_choices,
        (identity_choices.c.assignment_id == gateway_servers.c.id)
        & (identity_choices.c.user_id == users.c.id),
    )
    .outerjoin(identities, identities.c.id == _IDENTITY_ID)
    .where(api_tokens.c.token_hash == "")
    .order_by(gateway_servers.c.position)
)


class AccessReader:
    """Reads the access an API token grants. Not thread-safe: use it from one thread (the event loop)."""

    def __init__(self, engine: Engine, vault: Vault) -> None:
        self._engine = engine
        self._vault = vault
        compiled = _QUERY.compile(dialect=engine.dialect)
        self._sql = compiled.string
        self._positional = bool(compiled.positiontup)
        self._param = next(iter(compiled.params))
        self._connection: Any = None
        self._servers: dict[tuple[int, str, bool], Server] = {}
        self._credentials: dict[tuple[Any, ...], Credential] = {}

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _open(self) -> Any:
        connection = self._engine.raw_connection()
        driver: Any = connection.driver_connection
        connection.detach()  # ours alone: autocommit must not leak back into the pool
        if self._engine.dialect.name == "sqlite":
            driver.isolation_level = None
        else:
            driver.autocommit = True
        return connection

    def _rows(self, token_hash: str) -> list[tuple[Any, ...]]:
        params: Any = (token_hash,) if self._positional else {self._param: token_hash}
        for attempt in (1, 2):
            if self._connection is None:
                self._connection = self._open()
            try:
                cursor = self._connection.cursor()
                cursor.execute(self._sql, params)
                rows: list[tuple[Any, ...]] = cursor.fetchall()
                cursor.close()
                return rows
            except self._engine.dialect.loaded_dbapi.Error:
                self.close()  # a dropped connection: open a new one once
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def load(self, token_hash: str) -> Access | None:
        """The access a token grants, or None when no token has this hash. The caller judges the flags."""
        rows = self._rows(token_hash)
        if not rows:
            return None
        first = rows[0]
        principal = Principal(
            token_id=first[0],
            connection_id=first[2],
            host=first[4],
            gateway_id=first[6],
            gateway=first[7],
            user_id=first[10],
            user_email=first[11],
            host_link_id=first[32],
        )
        return Access(
            principal=principal,
            token_revoked=first[1] is not None,
            token_expires_at=first[33],
            host_enabled=bool(first[5]),
            connection_enabled=bool(first[3]),
            gateway_enabled=bool(first[8]),
            gateway_archived=bool(first[9]),
            user_active=bool(first[20]),
            sponsor=_sponsor(first) if first[37] is not None else None,
            assignments=tuple(self._assignment(r) for r in rows if r[12] is not None),
        )

    def _assignment(self, row: tuple[Any, ...]) -> Assignment:
        return Assignment(
            id=row[12],
            server=self._server(row),
            prefix=row[13],
            name=row[22],
            scheme=IdentityScheme(row[23]),
            credential=self._credential(row) if _may_call_as(row) else None,
        )

    def _credential(self, row: tuple[Any, ...]) -> Credential:
        """The identity opened once per version (and flag), so the hot path decrypts only after a change."""
        key = tuple(row[24:32])
        credential = self._credentials.get(key)
        if credential is None:
            credential = open_credential(self._vault, *key)
            if len(self._credentials) > 10_000:  # bounded: old versions are never asked for again
                self._credentials.clear()
            self._credentials[key] = credential
        return credential

    def _server(self, row: tuple[Any, ...]) -> Server:
        key = (row[14], row[19], bool(row[17]))
        server = self._servers.get(key)
        if server is None:
            stored = orjson.loads(row[18]) if isinstance(row[18], str | bytes) else row[18]
            config = load_config(_Stored(stored, row[21]), self._vault)
            server = Server(
                id=row[14],
                name=row[15],
                transport=Transport(row[16]),
                enabled=bool(row[17]),
                command=config.get("command"),
                args=tuple(config.get("args") or ()),
                env=config.get("env") or {},
                identity_env=frozenset(config.get("identity_env") or ()),
                cwd=config.get("cwd"),
                url=config.get("url"),
                headers=config.get("headers") or {},
                revision=row[19],
            )
            self._servers[key] = server
        return server


def _may_call_as(row: tuple[Any, ...]) -> bool:
    """Whether the token calls as the identity its assignment resolved to: there is one, and it is
    not its user's private identity unless the token may use those (``policy.tokens``); without it,
    the call is refused as needing the user's own identity, which they bring through the link."""
    if row[24] is None:
        return False
    private_of_user = row[35] == row[10] and row[36] == Availability.PRIVATE.value
    return bool(row[34]) or not private_of_user


def _sponsor(row: tuple[Any, ...]) -> Sponsor:
    """The token's sponsor, from the columns that follow the identity's (``_QUERY``)."""
    stored = orjson.loads(row[40]) if isinstance(row[40], str | bytes) else row[40]
    return Sponsor(
        email=row[37],
        active=bool(row[38]),
        capabilities=role_capabilities(row[39], stored),
        granted=bool(row[41]),
    )


class _Stored:
    """The two columns ``load_config`` reads, from a raw row."""

    def __init__(self, config: dict[str, Any], secrets: str | None) -> None:
        self.config = config
        self.secrets = secrets


def open_credential(
    vault: Vault,
    identity_id: int,
    name: str,
    kind: str,
    enabled: bool,
    status: str,
    version: int,
    sealed: str | None,
    expires_at: float | None,
) -> Credential:
    """An identity's columns, its sealed secret opened into what it attaches upstream.

    Raises:
        VaultError: the secret does not open with this vault.
    """
    opened = vault.open(sealed, place("identities", identity_id, "secret")) if sealed else {}
    return Credential(
        identity_id=identity_id,
        name=name,
        kind=IdentityKind(kind),
        enabled=bool(enabled),
        status=IdentityStatus(status),
        version=version,
        values=credential_values(IdentityKind(kind), opened),
        expires_at=expires_at,
    )


def credential_values(kind: IdentityKind, opened: dict[str, Any]) -> dict[str, str]:
    """What an identity attaches upstream: its headers, or an OAuth bearer token (RFC 6750 §2.1)."""
    if kind is IdentityKind.HEADERS:
        return dict(opened.get("headers") or {})
    if kind is IdentityKind.OAUTH and opened.get("access_token"):
        return {"Authorization": f"Bearer {opened['access_token']}"}
    return {}


def load_access(engine: Engine, vault: Vault, token_hash: str) -> Access | None:
    """One-off read of a token's access (tools and tests; the data plane keeps an ``AccessReader``)."""
    reader = AccessReader(engine, vault)
    try:
        return reader.load(token_hash)
    finally:
        reader.close()

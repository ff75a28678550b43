"""The data plane's one read per request: token → connection → host, gateway, user, the token's
expiry and whether it calls as its user's private identities, its sponsor and whether they may
still use the gateway, and the gateway's servers, with every enabled flag as of the last commit
(product spec §5.4: "checked on every request").

This is the hot path. Each request reads one indexed row, the change counter that triggers bump in
the transaction of every write to a table read here (migration 0006); only when it moved since the
token was last read is the access query run again: one indexed query, compiled once by SQLAlchemy.
Both run on worker threads with dedicated DBAPI connections (autocommit, so every read sees the
latest commit), never on the event loop. The counter is read before the query, so an answer is
never remembered under a counter older than what it saw. Time-based facts (a token's expiry) are
judged by the caller on every request. Parsed server configurations are reused, keyed by the
server's ``revision``, and opened identities by their version.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections import OrderedDict
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson
from sqlalchemy import ColumnElement, Engine, Exists, ScalarSelect, Select, case, func, literal_column, select

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
from lockgate.domain.provisioning import Approval, Provisioning
from lockgate.store.people import role_capabilities
from lockgate.store.provisioning import load_approval, load_provisioning
from lockgate.store.schema import (
    access_changes,
    api_tokens,
    connections,
    feature_approvals,
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
from lockgate.store.shared_read import SharedRead
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

ACCESS_QUERY = (
    select(
        api_tokens.c.id.label("token_id"),
        api_tokens.c.revoked_at.label("token_revoked_at"),
        api_tokens.c.expires_at.label("token_expires_at"),
        api_tokens.c.private_identities.label("token_private_identities"),
        connections.c.id.label("connection_id"),
        connections.c.enabled.label("connection_enabled"),
        hosts.c.name.label("host_name"),
        hosts.c.enabled.label("host_enabled"),
        hosts.c.link_id.label("host_link_id"),
        gateways.c.id.label("gateway_id"),
        gateways.c.name.label("gateway_name"),
        gateways.c.enabled.label("gateway_enabled"),
        gateways.c.archived.label("gateway_archived"),
        users.c.id.label("user_id"),
        users.c.email.label("user_email"),
        users.c.active.label("user_active"),
        _sponsors.c.email.label("sponsor_email"),
        _sponsors.c.active.label("sponsor_active"),
        _sponsor_roles.c.name.label("sponsor_role"),
        _sponsor_roles.c.capabilities.label("sponsor_capabilities"),
        _granted().label("sponsor_granted"),
        gateway_servers.c.id.label("assignment_id"),
        gateway_servers.c.prefix.label("assignment_prefix"),
        gateway_servers.c.name.label("assignment_name"),
        gateway_servers.c.identity_scheme.label("assignment_scheme"),
        gateway_servers.c.provisioning.label("assignment_provisioning"),
        gateway_servers.c.metadata_filter.label("assignment_metadata_filter"),
        servers.c.id.label("server_id"),
        servers.c.name.label("server_name"),
        servers.c.transport.label("server_transport"),
        servers.c.enabled.label("server_enabled"),
        servers.c.config.label("server_config"),
        servers.c.secrets.label("server_secrets"),
        servers.c.revision.label("server_revision"),
        identities.c.id.label("identity_id"),
        identities.c.name.label("identity_name"),
        identities.c.kind.label("identity_kind"),
        identities.c.enabled.label("identity_enabled"),
        identities.c.status.label("identity_status"),
        identities.c.version.label("identity_version"),
        identities.c.secret.label("identity_secret"),
        identities.c.expires_at.label("identity_expires_at"),
        identities.c.owner_id.label("identity_owner_id"),
        identities.c.availability.label("identity_availability"),
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
"""A token's access: one row per assignment of its gateway (one row with the assignment's columns
None when the gateway has none), every column labelled. Migration 0006's triggers watch the tables
it reads."""


APPROVALS_QUERY = (
    select(
        feature_approvals.c.id,
        feature_approvals.c.assignment_id,
        feature_approvals.c.kind,
        feature_approvals.c.name,
        feature_approvals.c.decision,
        feature_approvals.c.definition,
        feature_approvals.c.digest,
        feature_approvals.c.pinned,
        feature_approvals.c.teams,
    )
    .join(gateway_servers, gateway_servers.c.id == feature_approvals.c.assignment_id)
    .join(connections, connections.c.gateway_id == gateway_servers.c.gateway_id)
    .join(api_tokens, api_tokens.c.connection_id == connections.c.id)
    .where(api_tokens.c.token_hash == "")
    .order_by(feature_approvals.c.id)
)
"""The approvals and rejections of every assignment of a token's gateway (``feature_approvals``)."""

TEAMS_QUERY = (
    select(team_members.c.team_id)
    .join(connections, connections.c.user_id == team_members.c.user_id)
    .join(api_tokens, api_tokens.c.connection_id == connections.c.id)
    .where(api_tokens.c.token_hash == "")
)
"""The team ids of a token's user (team-limited approvals)."""

ACCESS_QUERIES = (ACCESS_QUERY, APPROVALS_QUERY, TEAMS_QUERY)
"""Every query a token's access is read with; migration 0006's triggers watch what they read."""

_CHANGES = select(access_changes.c.value).where(access_changes.c.id == literal_column("1"))

Row = dict[str, Any]
"""One row of the access query, by the labels ``ACCESS_QUERY`` gives its columns."""


class AccessReader:
    """Reads the access an API token grants.

    Each read first reads the change counter (``access_changes``, bumped by triggers in the
    transaction of every write that can change an answer, migration 0006); while it is unchanged,
    a token's access is answered from the last read of it, so break-glass still holds on the next
    call. ``cache_size`` bounds the tokens remembered (least recently used goes first).

    On PostgreSQL every read is a network round trip, so it runs on at most ``threads`` worker
    threads, each with its own autocommit DBAPI connection, never on the event loop; requests that
    arrive while a counter read is under way share the next one, which starts when that one ends,
    so each still sees every commit made before it arrived, and a burst costs one thread hop. On
    SQLite (a local file in WAL mode, where readers never wait for writers) the counter read costs
    less than a hop to a thread, so it runs in place (``bench/README.md`` has the figures).
    """

    def __init__(self, engine: Engine, vault: Vault, *, threads: int = 4, cache_size: int = 4096) -> None:
        self._engine = engine
        self._vault = vault
        self._statements = {
            "access": _Compiled(ACCESS_QUERY, engine),
            "approvals": _Compiled(APPROVALS_QUERY, engine),
            "teams": _Compiled(TEAMS_QUERY, engine),
            "changes": _Compiled(_CHANGES, engine),
        }
        self._offload = engine.dialect.name != "sqlite"
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix="lockgate-access")
        self._local = threading.local()
        self._connections: list[Any] = []
        self._lock = threading.Lock()
        self._cache: OrderedDict[str, tuple[int, Access]] = OrderedDict()
        self._cache_size = cache_size
        self._highest_change = 0  # a counter below it went back (a restore): forget everything
        self._change_since_now = SharedRead(self._change, self._executor)
        self._servers: dict[tuple[int, str, bool], Server] = {}
        self._credentials: dict[tuple[Any, ...], Credential] = {}
        self._provisionings: OrderedDict[tuple[int, int], Provisioning] = OrderedDict()

    async def load(self, token_hash: str) -> Access | None:
        """The access a token grants, or None when no token has this hash. The caller judges the flags.

        Raises:
            sqlalchemy's DBAPI ``Error``: the database failed twice in a row.
        """
        if not self._offload:
            return self.read(token_hash)
        change = await self._change_since_now()
        access = self._remembered(token_hash, change)
        if access is None:
            loop = asyncio.get_running_loop()
            access = await loop.run_in_executor(self._executor, self._query, token_hash, change)
            self._remember(token_hash, change, access)
        return access

    def read(self, token_hash: str) -> Access | None:
        """``load`` on the calling thread (one-off reads, and SQLite)."""
        change = self._change()
        access = self._remembered(token_hash, change)
        if access is None:
            access = self._query(token_hash, change)
            self._remember(token_hash, change, access)
        return access

    def close(self) -> None:
        """Stops the worker threads and closes the connections."""
        self._executor.shutdown(wait=True)
        with self._lock:
            connections, self._connections = self._connections, []
        for connection in connections:
            connection.close()

    def _change(self) -> int | None:
        """The change counter, or None when its row is missing (then nothing is answered from memory)."""
        rows = self._rows("changes", None)
        return rows[0]["value"] if rows else None

    def _remembered(self, token_hash: str, change: int | None) -> Access | None:
        with self._lock:
            if change is not None and change < self._highest_change:
                self._cache.clear()  # the counter went back: an old value may come round again
            self._highest_change = max(self._highest_change, change or 0)
            cached = self._cache.get(token_hash)
            if cached is None or cached[0] != change:
                return None
            self._cache.move_to_end(token_hash)
            return cached[1]

    def _remember(self, token_hash: str, change: int | None, access: Access | None) -> None:
        if access is None or change is None:
            return
        with self._lock:
            self._cache[token_hash] = (change, access)
            self._cache.move_to_end(token_hash)
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)

    def _query(self, token_hash: str, change: int | None) -> Access | None:
        rows = self._rows("access", token_hash)
        if not rows:
            return None
        approvals: dict[int, list[Approval]] = {}
        remembered: dict[int, Provisioning] = {}
        if rows[0]["assignment_id"] is not None:
            remembered = self._remembered_provisionings(rows, change)
            for row in () if remembered else self._rows("approvals", token_hash):
                approval = load_approval(row)
                if approval is not None:
                    approvals.setdefault(row["assignment_id"], []).append(approval)
        teams = frozenset(row["team_id"] for row in self._rows("teams", token_hash))
        return self._access(rows, approvals, teams, change, remembered)

    def _rows(self, statement: str, token_hash: str | None) -> list[Row]:
        compiled = self._statements[statement]
        for attempt in (1, 2):
            connection = getattr(self._local, "connection", None)
            if connection is None:
                connection = self._local.connection = self._open()
            try:
                cursor = connection.cursor()
                cursor.execute(compiled.sql, compiled.parameters(token_hash))
                rows = [dict(zip(compiled.names, raw, strict=True)) for raw in cursor.fetchall()]
                cursor.close()
                return rows
            except self._engine.dialect.loaded_dbapi.Error:
                self._drop(connection)  # a dropped connection: open a new one once
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _open(self) -> Any:
        connection = self._engine.raw_connection()
        driver: Any = connection.driver_connection
        connection.detach()  # ours alone: autocommit must not leak back into the pool
        if self._engine.dialect.name == "sqlite":
            driver.isolation_level = None
        else:
            driver.autocommit = True
        with self._lock:
            self._connections.append(connection)
        return connection

    def _drop(self, connection: Any) -> None:
        self._local.connection = None
        with self._lock:
            self._connections.remove(connection)
        connection.close()

    def _access(
        self,
        rows: list[Row],
        approvals: dict[int, list[Approval]],
        teams: frozenset[int],
        change: int | None,
        remembered: dict[int, Provisioning],
    ) -> Access:
        first = rows[0]
        principal = Principal(
            token_id=first["token_id"],
            connection_id=first["connection_id"],
            host=first["host_name"],
            gateway_id=first["gateway_id"],
            gateway=first["gateway_name"],
            user_id=first["user_id"],
            user_email=first["user_email"],
            host_link_id=first["host_link_id"],
            teams=teams,
        )
        return Access(
            principal=principal,
            token_revoked=first["token_revoked_at"] is not None,
            token_expires_at=first["token_expires_at"],
            host_enabled=bool(first["host_enabled"]),
            connection_enabled=bool(first["connection_enabled"]),
            gateway_enabled=bool(first["gateway_enabled"]),
            gateway_archived=bool(first["gateway_archived"]),
            user_active=bool(first["user_active"]),
            sponsor=_sponsor(first) if first["sponsor_email"] is not None else None,
            assignments=tuple(
                self._assignment(
                    r,
                    remembered.get(r["assignment_id"])
                    or self._provisioning(r, approvals.get(r["assignment_id"], ()), change),
                )
                for r in rows
                if r["assignment_id"] is not None
            ),
            change=change,
        )

    def _assignment(self, row: Row, provisioning: Provisioning) -> Assignment:
        return Assignment(
            id=row["assignment_id"],
            server=self._server(row),
            prefix=row["assignment_prefix"],
            name=row["assignment_name"],
            scheme=IdentityScheme(row["assignment_scheme"]),
            credential=self._credential(row) if _may_call_as(row) else None,
            provisioning=provisioning,
        )

    def _remembered_provisionings(self, rows: list[Row], change: int | None) -> dict[int, Provisioning]:
        """Every assignment's ``Provisioning`` under ``change`` when each is remembered (then another
        token of the gateway needs no approvals read, nor their definitions parsed), else nothing."""
        if change is None:
            return {}
        with self._lock:
            found = {r["assignment_id"]: self._provisionings.get((r["assignment_id"], change)) for r in rows}
        return {} if None in found.values() else {k: v for k, v in found.items() if v is not None}

    def _provisioning(self, row: Row, approvals: Iterable[Approval], change: int | None) -> Provisioning:
        """One ``Provisioning`` value per (assignment, access counter), shared by every token of the
        gateway, so the data plane's verdicts kept per value are shared too (bounded memo)."""
        loaded = functools.partial(
            load_provisioning, row["assignment_provisioning"], row["assignment_metadata_filter"], approvals
        )
        if change is None:
            return loaded()
        key = (row["assignment_id"], change)
        with self._lock:
            provisioning = self._provisionings.get(key)
        if provisioning is None:
            provisioning = loaded()
            with self._lock:
                provisioning = self._provisionings.setdefault(key, provisioning)
                while len(self._provisionings) > self._cache_size:
                    self._provisionings.popitem(last=False)
        return provisioning
        provisioning = load_provisioning(
            row["assignment_provisioning"], row["assignment_metadata_filter"], approvals
        )
        if change is not None:
            with self._lock:
                provisioning = self._provisionings.setdefault(key, provisioning)
                while len(self._provisionings) > self._cache_size:
                    self._provisionings.popitem(last=False)
        return provisioning

    def _credential(self, row: Row) -> Credential:
        """The identity opened once per version (and flag), so the hot path decrypts only after a change."""
        key = tuple(row[name] for name in _CREDENTIAL_COLUMNS)
        credential = self._credentials.get(key)
        if credential is None:
            credential = open_credential(self._vault, *key)
            if len(self._credentials) > 10_000:  # bounded: old versions are never asked for again
                self._credentials.clear()
            self._credentials[key] = credential
        return credential

    def _server(self, row: Row) -> Server:
        key = (row["server_id"], row["server_revision"], bool(row["server_enabled"]))
        server = self._servers.get(key)
        if server is None:
            stored = row["server_config"]
            stored = orjson.loads(stored) if isinstance(stored, str | bytes) else stored
            config = load_config(_Stored(stored, row["server_secrets"]), self._vault)
            server = Server(
                id=row["server_id"],
                name=row["server_name"],
                transport=Transport(row["server_transport"]),
                enabled=bool(row["server_enabled"]),
                command=config.get("command"),
                args=tuple(config.get("args") or ()),
                env=config.get("env") or {},
                identity_env=frozenset(config.get("identity_env") or ()),
                cwd=config.get("cwd"),
                url=config.get("url"),
                headers=config.get("headers") or {},
                revision=row["server_revision"],
            )
            if len(self._servers) > 10_000:  # bounded like the credentials
                self._servers.clear()
            self._servers[key] = server
        return server


# open_credential's arguments, in its order
_CREDENTIAL_COLUMNS = (
    "identity_id",
    "identity_name",
    "identity_kind",
    "identity_enabled",
    "identity_status",
    "identity_version",
    "identity_secret",
    "identity_expires_at",
)


class _Compiled:
    """A query compiled once for the engine's DBAPI: its SQL, column names and how it takes the
    token hash (the only parameter, when it has one)."""

    def __init__(self, query: Select[Any], engine: Engine) -> None:
        compiled = query.compile(dialect=engine.dialect)
        self.sql = compiled.string
        self.names = tuple(query.selected_columns.keys())
        self._positional = bool(compiled.positiontup)
        self._param = next(iter(compiled.params), None)

    def parameters(self, token_hash: str | None) -> Any:
        if self._param is None:
            return ()
        return (token_hash,) if self._positional else {self._param: token_hash}


def _may_call_as(row: Row) -> bool:
    """Whether the token calls as the identity its assignment resolved to: there is one, and it is
    not its user's private identity unless the token may use those (``policy.tokens``); without it,
    the call is refused as needing the user's own identity, which they bring through the link."""
    if row["identity_id"] is None:
        return False
    private_of_user = (
        row["identity_owner_id"] == row["user_id"]
        and row["identity_availability"] == Availability.PRIVATE.value
    )
    return bool(row["token_private_identities"]) or not private_of_user


def _sponsor(row: Row) -> Sponsor:
    """The token's sponsor: whoever it stands on, their role and whether a team of theirs is granted
    the token's gateway."""
    stored = row["sponsor_capabilities"]
    stored = orjson.loads(stored) if isinstance(stored, str | bytes) else stored
    return Sponsor(
        email=row["sponsor_email"],
        active=bool(row["sponsor_active"]),
        capabilities=role_capabilities(row["sponsor_role"], stored),
        granted=bool(row["sponsor_granted"]),
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
    reader = AccessReader(engine, vault, threads=1)
    try:
        return reader.read(token_hash)
    finally:
        reader.close()

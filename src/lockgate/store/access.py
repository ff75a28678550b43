"""The data plane's one read per request: token → connection → host, gateway, user, and the gateway's
servers, with every enabled flag read fresh (product spec §5.4: "checked on every request, with no
caching").

This is the hot path, so it is one indexed query, compiled once by SQLAlchemy and run on a dedicated
DBAPI connection (autocommit, so every read sees the latest commit). Only parsed server
configurations are reused, keyed by the server's ``revision``; the flags never are.
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import Engine, select

from lockgate.domain.model import Access, Assignment, Principal, Server, Transport
from lockgate.store.schema import api_tokens, connections, gateway_servers, gateways, hosts, servers, users

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
    )
    .join(connections, connections.c.id == api_tokens.c.connection_id)
    .join(hosts, hosts.c.id == connections.c.host_id)
    .join(gateways, gateways.c.id == connections.c.gateway_id)
    .join(users, users.c.id == connections.c.user_id)
    .outerjoin(gateway_servers, gateway_servers.c.gateway_id == gateways.c.id)
    .outerjoin(servers, servers.c.id == gateway_servers.c.server_id)
    .where(api_tokens.c.token_hash == "")
    .order_by(gateway_servers.c.position)
)


class AccessReader:
    """Reads the access an API token grants. Not thread-safe: use it from one thread (the event loop)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        compiled = _QUERY.compile(dialect=engine.dialect)
        self._sql = compiled.string
        self._positional = bool(compiled.positiontup)
        self._param = next(iter(compiled.params))
        self._connection: Any = None
        self._servers: dict[tuple[int, str, bool], Server] = {}

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
        )
        return Access(
            principal=principal,
            token_revoked=first[1] is not None,
            host_enabled=bool(first[5]),
            connection_enabled=bool(first[3]),
            gateway_enabled=bool(first[8]),
            gateway_archived=bool(first[9]),
            user_active=bool(first[20]),
            assignments=tuple(Assignment(r[12], self._server(r), r[13]) for r in rows if r[12] is not None),
        )

    def _server(self, row: tuple[Any, ...]) -> Server:
        key = (row[14], row[19], bool(row[17]))
        server = self._servers.get(key)
        if server is None:
            config = orjson.loads(row[18]) if isinstance(row[18], str | bytes) else row[18]
            server = Server(
                id=row[14],
                name=row[15],
                transport=Transport(row[16]),
                enabled=bool(row[17]),
                command=config.get("command"),
                args=tuple(config.get("args") or ()),
                env=config.get("env") or {},
                cwd=config.get("cwd"),
                url=config.get("url"),
                headers=config.get("headers") or {},
                revision=row[19],
            )
            self._servers[key] = server
        return server


def load_access(engine: Engine, token_hash: str) -> Access | None:
    """One-off read of a token's access (tools and tests; the data plane keeps an ``AccessReader``)."""
    reader = AccessReader(engine)
    try:
        return reader.load(token_hash)
    finally:
        reader.close()

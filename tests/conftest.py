"""Shared fixtures: a store on SQLite or PostgreSQL (LOCKGATE_TEST_DATABASE), a running gateway, and
real upstream servers (the SDK fixture, npm's server-everything in each transport, PyPI's time server).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import httpx2
import psycopg
import pytest
import uvicorn
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from sqlalchemy import Engine, delete, insert, inspect, select, text, update

from lockgate.app import build_app
from lockgate.domain.capabilities import BUILTIN_GRANTS, Capability
from lockgate.domain.declaration import Declaration
from lockgate.settings import Settings
from lockgate.store.declarative import apply_declaration
from lockgate.store.engine import open_engine, upgrade
from lockgate.store.people import bootstrap_super_admin, create_personal_access_token, ensure_user, role_id
from lockgate.store.schema import (
    access_changes,
    metadata,
    roles,
    team_gateways,
    team_members,
    teams,
    users,
    vault_keys,
)
from lockgate.store.schema import gateways as gateway_table
from lockgate.store.tokens import create_token
from lockgate.vault import Vault
from lockgate.vault.keys import parse_key_ring
from tests.asgi import started

ROOT = Path(__file__).resolve().parents[1]
NPM = ROOT / "node_modules" / "@modelcontextprotocol"
EVERYTHING = NPM / "server-everything" / "dist" / "index.js"
DEADLINE = 30.0
TEST_MASTER_KEY = "dGVzdC1tYXN0ZXIta2V5LWZvci1sb2NrZ2F0ZS10c3Q"  # 32 bytes, base64url; tests only
TEST_VAULT = Vault(parse_key_ring(TEST_MASTER_KEY))


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ChildServer:
    """A server subprocess, ready once it printed a line matching ``ready`` (on stdout or stderr)."""

    def __init__(self, argv: list[str], ready: str, env: dict[str, str] | None = None) -> None:
        self.process = subprocess.Popen(
            argv,
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        lines: queue.Queue[str | None] = queue.Queue()

        def pump() -> None:
            assert self.process.stdout is not None
            for line in self.process.stdout:
                lines.put(line)
            lines.put(None)

        threading.Thread(target=pump, daemon=True).start()
        seen = []
        while True:
            line = lines.get(timeout=DEADLINE)
            if line is None:
                raise RuntimeError(f"{argv} exited before it was ready:\n{''.join(seen)}")
            seen.append(line)
            if re.search(ready, line):
                return

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()


@contextlib.contextmanager
def child(argv: list[str], ready: str, env: dict[str, str] | None = None) -> Iterator[ChildServer]:
    server = ChildServer(argv, ready, env)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def sdk_http_url() -> Iterator[str]:
    port = free_port()
    with child([sys.executable, "-m", "tests.fixtures.sdk_server", "--http", str(port)], "^ready"):
        yield f"http://127.0.0.1:{port}/mcp"


SDK_BEARER_TOKEN = "preview-bearer-5f1c9e"


@pytest.fixture(scope="session")
def sdk_bearer_url() -> Iterator[str]:
    """The SDK fixture server over HTTP, answering 401 without ``Authorization: Bearer
    SDK_BEARER_TOKEN`` (a server that needs a credential)."""
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "tests.fixtures.sdk_server",
        "--http",
        str(port),
        "--bearer",
        SDK_BEARER_TOKEN,
    ]
    with child(argv, "^ready"):
        yield f"http://127.0.0.1:{port}/mcp"


@pytest.fixture(scope="session")
def everything_http_url() -> Iterator[str]:
    port = free_port()
    with child(["node", str(EVERYTHING), "streamableHttp"], str(port), {"PORT": str(port)}):
        yield f"http://127.0.0.1:{port}/mcp"


@pytest.fixture(scope="session")
def everything_sse_url() -> Iterator[str]:
    port = free_port()
    with child(["node", str(EVERYTHING), "sse"], str(port), {"PORT": str(port)}):
        yield f"http://127.0.0.1:{port}/sse"


# -- the store ------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    name = f"lockgate_test_{uuid.uuid4().hex[:10]}"
    admin = "postgresql://postgres@127.0.0.1:5432/test"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite store migrated once per session; each test gets a copy (migrating costs ~0.3 s)."""
    path = tmp_path_factory.mktemp("template") / "lockgate.db"
    engine = open_engine(f"sqlite:///{path}")
    upgrade(engine, TEST_VAULT)
    engine.dispose()  # the last connection's close checkpoints the WAL into the file
    assert not path.with_name("lockgate.db-wal").exists()
    return path


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if os.environ.get("LOCKGATE_TEST_DATABASE", "sqlite") == "postgresql":
        return str(request.getfixturevalue("postgres_url"))
    copy = tmp_path / "lockgate.db"
    shutil.copyfile(request.getfixturevalue("migrated_sqlite"), copy)
    return f"sqlite:///{copy}"


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(
        data_dir=tmp_path,
        database_url=database_url,
        secret_key="test-secret-key",  # type: ignore[arg-type]
        master_key=TEST_MASTER_KEY,  # type: ignore[arg-type]
        upstream_timeout=10,
        audit_flush_interval=0.01,
    )


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    engine = empty_store(settings)
    yield engine
    engine.dispose()


def empty_store(settings: Settings) -> Engine:
    """The store at the newest schema and empty but for the built-in roles."""
    engine = open_engine(settings.resolved_database_url)
    if engine.dialect.name == "postgresql" and inspect(engine).has_table("vault_keys"):
        with engine.begin() as conn:  # a test may have rotated the shared database's key ring
            conn.execute(delete(vault_keys))
    upgrade(engine, settings.vault())
    if engine.dialect.name == "postgresql":  # one database per session: empty it, keep the seeded roles
        tables = ", ".join(
            t.name for t in metadata.sorted_tables if t not in (roles, vault_keys, access_changes)
        )
        with engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
            conn.execute(delete(roles).where(~roles.c.builtin))
            for role, grants in BUILTIN_GRANTS.items():
                capabilities = sorted(c.value for c in grants)
                conn.execute(
                    update(roles).where(roles.c.name == role.value).values(capabilities=capabilities)
                )
    return engine


# -- a running gateway ----------------------------------------------------------------------------
class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = threading.Event()
        self.loop: asyncio.AbstractEventLoop | None = None

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets)
        self.loop = asyncio.get_running_loop()
        self.ready.set()


@dataclass
class RunningGateway:
    """A running Lockgate, on a free port or in process, with helpers to configure it. ``http``
    reaches it either way (the JSON API sets no cookie, so one client serves every user), through
    ``transport`` in process; ``loop`` is its own event loop, in a thread of its own."""

    settings: Settings
    engine: Engine
    app: Any
    base: str  # the origin, http://127.0.0.1:<port>
    port: int | None  # None in process: nothing listens
    loop: asyncio.AbstractEventLoop
    http: httpx.Client
    transport: httpx.BaseTransport | None = None  # None: the network

    def url(self, gateway: str) -> str:
        return f"{self.base}/mcp/{gateway}"

    @property
    def api_url(self) -> str:
        return f"{self.base}/api/v1"

    def declare(self, declaration: dict[str, Any]) -> None:
        apply_declaration(self.engine, TEST_VAULT, Declaration.model_validate(declaration))

    def token(self, host: str, gateway: str, user: str | None = None) -> str:
        """A token minted by the instance operator: for ``user``, who joins a team granted the
        gateway (the data plane refuses a user who may not use it), or for the host's agent user."""
        if user is not None:
            self.entitle(user, gateway)
        return create_token(self.engine, self.settings.key_bytes(), host, gateway, user, minted_by=None)[1]

    def entitle(self, email: str, gateway: str) -> None:
        """Make ``email`` (a new user: a Member) a member of the team ``<gateway>-users``, granted it."""
        with self.engine.begin() as conn:
            user_id = ensure_user(conn, email)
            team = f"{gateway}-users"
            team_id = conn.execute(select(teams.c.id).where(teams.c.name == team)).scalar()
            if team_id is None:
                team_id = conn.execute(
                    insert(teams).values(name=team, version=1, created_at=time.time())
                ).inserted_primary_key[0]
                gateway_id = conn.execute(
                    select(gateway_table.c.id).where(gateway_table.c.name == gateway)
                ).scalar_one()
                conn.execute(insert(team_gateways).values(team_id=team_id, gateway_id=gateway_id))
            member = (team_members.c.team_id == team_id) & (team_members.c.user_id == user_id)
            if conn.execute(select(team_members).where(member)).first() is None:
                conn.execute(insert(team_members).values(team_id=team_id, user_id=user_id))

    def on_loop(self, coroutine: Any, timeout: float = DEADLINE) -> Any:
        """Run a coroutine on the gateway's own event loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def flush_audit(self) -> None:
        self.on_loop(self.app.state.lockgate.recorder.flush())


@contextlib.contextmanager
def serving(settings: Settings, engine: Engine) -> Iterator[RunningGateway]:
    """Lockgate on a free port, in a thread of its own, until the block ends: for what needs a socket
    (the Python SDK's client, a browser, a subprocess)."""
    port = free_port()
    app = build_app(settings, engine)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = _Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    assert server.ready.wait(DEADLINE), "the gateway did not start"
    assert server.loop is not None
    try:
        with httpx.Client(timeout=DEADLINE) as http:
            yield RunningGateway(settings, engine, app, f"http://127.0.0.1:{port}", port, server.loop, http)
    finally:
        server.should_exit = True
        thread.join(DEADLINE)


@contextlib.contextmanager
def in_process(settings: Settings, engine: Engine) -> Iterator[RunningGateway]:
    """Lockgate in process at its public URL, with no socket, until the block ends: its lifespan on an
    event loop in a thread of its own, each request handed to it there (``tests/asgi.py``)."""
    app = build_app(settings, engine)
    base = settings.resolved_public_url
    with (
        started(app, base, DEADLINE) as transport,
        httpx.Client(transport=transport, timeout=DEADLINE) as http,
    ):
        yield RunningGateway(settings, engine, app, base, None, transport.loop, http, transport)


@pytest.fixture(name="lockgate")
def lockgate_on_a_socket(settings: Settings, engine: Engine) -> Iterator[RunningGateway]:
    """Lockgate on a socket. Where ``lockgate`` is in process (``tests/api``, ``tests/cli``), a module
    whose clients need a socket imports this fixture to have it back."""
    with serving(settings, engine) as running:
        yield running


@contextlib.asynccontextmanager
async def mcp_client(url: str, token: str | None, mode: str = "auto", **kwargs: Any) -> AsyncIterator[Client]:
    """The Python SDK's client, connected through the gateway with a bearer token."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=DEADLINE) as http,
        Client(streamable_http_client(url, http_client=http), mode=mode, **kwargs) as client,
    ):
        yield client


# -- the control plane ----------------------------------------------------------------------------
@dataclass
class Api:
    """An HTTP client for ``/api/v1`` with one user's personal access token, sending through ``http``
    (a running gateway's)."""

    base: str
    token: str
    http: httpx.Client

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        return self.http.request(method, self.base + path, headers=headers, **kwargs)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", path, **kwargs)


@dataclass
class People:
    """Makes users with a role (built-in or custom) and teams, straight in the store."""

    lockgate: RunningGateway

    def role(self, name: str, capabilities: Iterable[Capability]) -> str:
        with self.lockgate.engine.begin() as conn:
            conn.execute(
                insert(roles).values(
                    name=name,
                    builtin=False,
                    capabilities=[c.value for c in capabilities],
                    version=1,
                    created_at=time.time(),
                )
            )
        return name

    def user(self, email: str, role: str, teams_: Iterable[str] = (), gateways: Iterable[str] = ()) -> Api:
        """A user with ``role``, member of ``teams_`` (created when new), each granted ``gateways``."""
        with self.lockgate.engine.begin() as conn:
            user_id = ensure_user(conn, email)
            conn.execute(users.update().where(users.c.id == user_id).values(role_id=role_id(conn, role)))
            for team in teams_:
                team_id = conn.execute(select(teams.c.id).where(teams.c.name == team)).scalar()
                if team_id is None:
                    team_id = conn.execute(
                        insert(teams).values(name=team, version=1, created_at=time.time())
                    ).inserted_primary_key[0]
                conn.execute(insert(team_members).values(team_id=team_id, user_id=user_id))
                for gateway in gateways:
                    gateway_id = conn.execute(
                        select(gateway_table.c.id).where(gateway_table.c.name == gateway)
                    ).scalar_one()
                    conn.execute(insert(team_gateways).values(team_id=team_id, gateway_id=gateway_id))
            _row, token = create_personal_access_token(
                conn, self.lockgate.settings.key_bytes(), user_id, "test", None
            )
        return Api(self.lockgate.api_url, token, self.lockgate.http)


@pytest.fixture
def admin(lockgate: RunningGateway) -> Api:
    """The instance's first Super admin, as ``lockgate init`` makes them."""
    token = bootstrap_super_admin(lockgate.engine, lockgate.settings.key_bytes(), "admin@example.com")
    assert token is not None
    return Api(lockgate.api_url, token, lockgate.http)


@pytest.fixture
def people(lockgate: RunningGateway) -> People:
    return People(lockgate)

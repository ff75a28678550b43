"""The data plane in process: the whole app driven through ``httpx.ASGITransport`` (no sockets), over
a store with one gateway ``g`` of no servers and a host ``agent``; the audit is flushed on demand."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from lockgate.app import DataPlaneFirst, build_app
from lockgate.audit.recorder import AuditRecorder
from lockgate.domain.declaration import Declaration
from lockgate.settings import Settings
from lockgate.store.audit_log import load_entries
from lockgate.store.declarative import apply_declaration
from lockgate.store.tokens import create_token
from tests.conftest import DEADLINE, TEST_VAULT

BASE = "http://127.0.0.1:8080"
INITIALIZE = (
    b'{"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {"protocolVersion": '
    b'"2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}'
)
LEGACY = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


@dataclass
class InProcessGateway:
    app: DataPlaneFirst
    engine: Engine
    http: httpx.AsyncClient
    token: str

    @property
    def recorder(self) -> AuditRecorder:
        return self.app.state.lockgate.recorder  # type: ignore[no-any-return]

    async def post(
        self,
        body: bytes,
        headers: dict[str, str] | None = None,
        *,
        token: str | None = "valid",  # noqa: S107
    ) -> httpx.Response:
        """POST ``body`` to ``/mcp/g`` as the host (``token="valid"``), a stranger (None) or ``token``."""
        sent = {**LEGACY, **(headers or {})}
        if token is not None:
            sent["Authorization"] = f"Bearer {self.token if token == 'valid' else token}"
        return await self.http.post("/mcp/g", content=body, headers=sent)

    async def legs(self, response: httpx.Response) -> list[dict[str, Any]]:
        """The stored legs of the exchange ``response`` answered, in order."""
        await self.recorder.flush()
        return load_entries(self.engine, correlation_id=response.headers["x-correlation-id"])

    async def initialize(self) -> str:
        """A legacy session's id."""
        response = await self.post(INITIALIZE)
        assert response.status_code == 200, response.text
        return response.headers["mcp-session-id"]


@contextlib.asynccontextmanager
async def in_process_gateway(settings: Settings, engine: Engine) -> AsyncIterator[InProcessGateway]:
    """The app over ``engine``, with gateway ``g`` and host ``agent`` declared and a token for them."""
    apply_declaration(
        engine,
        TEST_VAULT,
        Declaration.model_validate({"gateways": [{"name": "g"}], "hosts": [{"name": "agent"}]}),
    )
    token = create_token(engine, settings.key_bytes(), "agent", "g", None, minted_by=None)[1]
    app = build_app(settings, engine)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE, timeout=DEADLINE) as http:
        yield InProcessGateway(app, engine, http, token)
    app.state.lockgate.sessions.close_all()


@pytest.fixture
async def gateway(settings: Settings, engine: Engine) -> AsyncIterator[InProcessGateway]:
    async with in_process_gateway(settings, engine) as running:
        yield running

"""Fixtures of the upstream tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from lockgate.upstream.http_client import HttpClient
from tests.upstream.scripted import Answer, ScriptedServer

StartServer = Callable[[Answer], Awaitable[ScriptedServer]]


@pytest.fixture
async def http() -> AsyncIterator[HttpClient]:
    """The gateway's HTTP client for upstreams, closed after the test."""
    client = HttpClient()
    yield client
    await client.close()


@pytest.fixture
async def scripted() -> AsyncIterator[StartServer]:
    """Starts scripted servers on loopback; closes them after the test."""
    servers: list[ScriptedServer] = []

    async def start(answer: Answer) -> ScriptedServer:
        server = ScriptedServer(answer)
        server.server = await asyncio.start_server(server.on_connection, "127.0.0.1", 0)
        servers.append(server)
        return server

    yield start
    for server in servers:
        assert server.server is not None
        server.server.close()

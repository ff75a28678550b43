"""A request its client ends — a closed stream, ``notifications/cancelled``, an ended session — ends
quietly: the endpoint returns instead of raising ``CancelledError`` into the server, which logged it
as an exception in the application. Any other cancellation still propagates."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from lockgate.dataplane.cancellation import cancel_for_client, is_client_cancellation
from tests.conftest import DEADLINE, RunningGateway

LEGACY = "2025-11-25"


async def ended_how(*cancels: str | None) -> str:
    """How a task waiting forever ends after ``cancels`` (None: the client's)."""
    outcome, started = asyncio.get_running_loop().create_future(), asyncio.Event()

    async def serve() -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError as exc:
            outcome.set_result("quietly" if is_client_cancellation(exc) else "propagated")
            raise

    task = asyncio.create_task(serve())
    await asyncio.wait_for(started.wait(), DEADLINE)
    for message in cancels:
        if message is None:
            cancel_for_client(task)
        else:
            task.cancel(message)
    return str(await asyncio.wait_for(outcome, DEADLINE))


@pytest.mark.anyio
async def test_the_clients_cancellation_is_handled_and_no_other_is() -> None:
    assert await ended_how(None) == "quietly"
    assert await ended_how("shutdown") == "propagated"
    assert await ended_how(None, "shutdown") == "propagated"  # the server stops meanwhile


def open_legacy_session(gateway: RunningGateway, token: str) -> str:
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": LEGACY,
            "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"},
        },
    }
    response = httpx.post(
        gateway.url("g"),
        json=initialize,
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json, text/event-stream"},
        timeout=DEADLINE,
    )
    assert response.status_code == 200, response.text
    return response.headers["mcp-session-id"]


@pytest.mark.e2e
def test_a_get_stream_whose_client_goes_away_ends_without_an_error(
    lockgate: RunningGateway, sdk_http_url: str
) -> None:
    lockgate.declare(
        {
            "servers": [{"name": "fixture", "transport": "http", "url": sdk_http_url}],
            "gateways": [{"name": "g", "servers": [{"server": "fixture", "provisioning": "allow_all"}]}],
            "hosts": [{"name": "agent"}],
        }
    )
    token = lockgate.token("agent", "g")
    session = open_legacy_session(lockgate, token)
    headers = {
        "host": f"127.0.0.1:{lockgate.port}",
        "authorization": f"Bearer {token}",
        "accept": "text/event-stream",
        "mcp-session-id": session,
        "mcp-protocol-version": LEGACY,
    }
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/mcp/g",
        "raw_path": b"/mcp/g",
        "query_string": b"",
        "root_path": "",
        "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", lockgate.port),
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    lockgate.on_loop(lockgate.app(scope, receive, send))  # raised CancelledError before

    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 200

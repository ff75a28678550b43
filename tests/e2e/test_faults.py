"""Faults: a stdio server killed mid-call, a hanging server, a server that is down. Each failing call
gets a JSON-RPC error naming the server; the other servers keep serving throughout."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time

import anyio
import orjson
import pytest
from mcp.shared.exceptions import MCPError

from lockgate.settings import Settings
from lockgate.store.audit_log import load_entries
from tests.conftest import RunningGateway, free_port, mcp_client

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]
TIMEOUT = 1.5


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"upstream_timeout": TIMEOUT})


@pytest.fixture
def gateway(lockgate: RunningGateway, sdk_http_url: str) -> RunningGateway:
    stdio = ["-m", "tests.fixtures.sdk_server", "--stdio"]
    lockgate.declare(
        {
            "servers": [
                {"name": "local", "transport": "stdio", "command": sys.executable, "args": stdio},
                {"name": "remote", "transport": "http", "url": sdk_http_url},
                {"name": "down", "transport": "http", "url": f"http://127.0.0.1:{free_port()}/mcp"},
            ],
            "gateways": [
                {
                    "name": "g",
                    "servers": [
                        {"server": "local", "provisioning": "allow_all", "prefix": "local"},
                        {"server": "remote", "provisioning": "allow_all", "prefix": "remote"},
                        {"server": "down", "provisioning": "allow_all", "prefix": "down"},
                    ],
                }
            ],
            "hosts": [{"name": "agent"}],
        }
    )
    return lockgate


async def wait_until(predicate, deadline: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    with anyio.fail_after(deadline):
        while not predicate():  # noqa: ASYNC110 - another thread's state: no event to await
            await anyio.sleep(0.01)


def calls_in_flight(gateway: RunningGateway, server: str) -> int:
    pool = gateway.app.state.lockgate.pool
    return sum(u._peer.in_flight for u in pool._upstreams.values() if u.name == server and u._peer)


@pytest.mark.parametrize("era", ["legacy", "2026-07-28"])
async def test_a_stdio_server_killed_mid_call_fails_that_call_and_is_restarted_for_the_next(
    gateway: RunningGateway, era: str
) -> None:
    async with mcp_client(gateway.url("g"), gateway.token("agent", "g"), mode=era) as client:
        first_pid = int((await client.call_tool("local__pid", {})).content[0].text)
        outcome: dict[str, BaseException] = {}

        async def doomed_call() -> None:
            try:
                await client.call_tool("local__hang", {})
            except MCPError as exc:
                outcome["error"] = exc

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(doomed_call)
            await wait_until(lambda: calls_in_flight(gateway, "local") == 1)
            os.kill(first_pid, signal.SIGKILL)
            assert (await client.call_tool("remote__echo", {"text": "still here"})).content[
                0
            ].text == "still here"
        assert "local" in str(outcome["error"]) and "exited" in str(outcome["error"])
        second_pid = int((await client.call_tool("local__pid", {})).content[0].text)
        assert second_pid != first_pid


@pytest.mark.parametrize("era", ["legacy", "2026-07-28"])
async def test_a_hanging_server_yields_a_timeout_error_at_the_deadline_while_others_serve(
    gateway: RunningGateway, era: str
) -> None:
    async with mcp_client(gateway.url("g"), gateway.token("agent", "g"), mode=era) as client:
        await client.call_tool("local__pid", {})  # the stdio server is started before the clock matters
        outcome: dict[str, object] = {}

        async def hanging_call() -> None:
            started = time.monotonic()
            try:
                await client.call_tool("remote__hang", {})
            except MCPError as exc:
                outcome["error"], outcome["after"] = exc, time.monotonic() - started

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(hanging_call)
            await wait_until(lambda: calls_in_flight(gateway, "remote") == 1)
            assert (await client.call_tool("local__echo", {"text": "fine"})).content[0].text == "fine"
        error = outcome["error"]
        assert isinstance(error, MCPError) and error.error.code == -32011
        assert "'remote' did not answer within 1.5s" in error.error.message
        assert TIMEOUT <= outcome["after"] < TIMEOUT + 5  # type: ignore[operator]


async def test_a_server_that_is_down_gives_an_error_naming_it_and_stays_out_of_lists(
    gateway: RunningGateway,
) -> None:
    async with mcp_client(gateway.url("g"), gateway.token("agent", "g"), mode="2026-07-28") as client:
        with pytest.raises(MCPError) as down:
            await client.call_tool("down__echo", {"text": "x"})
        assert down.value.error.code == -32010 and "'down'" in down.value.error.message
        names = {t.name for t in (await client.list_tools()).tools}
        assert {"local__echo", "remote__echo"} <= names and not any(n.startswith("down__") for n in names)


async def test_a_modern_client_closing_its_stream_cancels_the_call_upstream(gateway: RunningGateway) -> None:
    async with mcp_client(gateway.url("g"), gateway.token("agent", "g"), mode="2026-07-28") as client:
        await client.call_tool("remote__echo", {"text": "warm"})  # the gateway has read the tool list
    meta = {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    body = orjson.dumps(
        {
            "jsonrpc": "2.0",
            "id": 7,
            "method": "tools/call",
            "params": {"name": "remote__hang", "arguments": {}, "_meta": meta},
        }
    )
    head = (
        f"POST /mcp/g HTTP/1.1\r\nHost: 127.0.0.1:{gateway.port}\r\n"
        f"Authorization: Bearer {gateway.token('agent', 'g')}\r\nContent-Type: application/json\r\n"
        "Accept: application/json, text/event-stream\r\nMCP-Protocol-Version: 2026-07-28\r\n"
        f"Mcp-Method: tools/call\r\nMcp-Name: remote__hang\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    _, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
    writer.write(head.encode() + body)
    await wait_until(lambda: calls_in_flight(gateway, "remote") == 1)
    writer.close()  # the client goes away mid-call

    def cancellation_recorded() -> bool:
        gateway.flush_audit()
        return any(e["error"] == "cancelled by the client" for e in load_entries(gateway.engine, limit=50))

    await wait_until(cancellation_recorded)
    assert calls_in_flight(gateway, "remote") == 0

"""Server URLs through the data plane: a server stored at an address outside the networks servers
may reach (saved before the policy, or named by a host that resolves there) is refused when the pool
connects, and neither the answer nor the audit names its address."""

from __future__ import annotations

import httpx2
import pytest

from lockgate.dataplane.errors import UPSTREAM_UNAVAILABLE
from lockgate.store.audit_log import load_entries
from tests.conftest import RunningGateway

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]
INSIDE = {"meta": "169.254.169.254", "private": "10.255.255.1", "unique": "[fd00:ec2::254]"}


@pytest.fixture
def gateway(lockgate: RunningGateway) -> RunningGateway:
    lockgate.declare(  # the store directly: what the API would refuse to save
        {
            "servers": [
                {"name": name, "transport": "http", "url": f"http://{address}:8080/mcp"}
                for name, address in INSIDE.items()
            ],
            "gateways": [
                {
                    "name": "g",
                    "servers": [
                        {"server": name, "provisioning": "allow_all", "prefix": name} for name in INSIDE
                    ],
                }
            ],
            "hosts": [{"name": "agent"}],
        }
    )
    return lockgate


@pytest.mark.parametrize("server", list(INSIDE))
async def test_a_server_at_a_link_local_or_private_address_is_refused_at_connect_time(
    gateway: RunningGateway, server: str
) -> None:
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {
            "name": f"{server}__echo",
            "arguments": {},
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {},
                "io.modelcontextprotocol/clientInfo": {"name": "egress-test", "version": "1"},
            },
        },
    }
    headers = {
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": "2026-07-28",
        "Mcp-Method": "tools/call",
        "Mcp-Name": f"{server}__echo",
        "Authorization": f"Bearer {gateway.token('agent', 'g', 'ada@example.com')}",
    }
    async with httpx2.AsyncClient(timeout=30) as http:
        answer = await http.post(gateway.url("g"), json=body, headers=headers)
    error = answer.json()["error"]
    assert error["code"] == UPSTREAM_UNAVAILABLE
    assert f"{server!r}" in error["message"] and "server_allowed_networks" in error["message"]
    gateway.flush_audit()
    stored = [
        repr(entry)
        for entry in load_entries(gateway.engine, correlation_id=answer.headers["x-correlation-id"])
    ]
    address = INSIDE[server].strip("[]")
    assert len(stored) == 3 and not any(address in text for text in [answer.text, *stored])
    assert "8080" not in error["message"]  # (timestamps and ids in the legs may hold any digits)

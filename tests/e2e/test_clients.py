"""The Python SDK client lists and calls tools, prompts and resources through the gateway, in both
protocol eras, over upstreams of every transport."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.conftest import EVERYTHING, NPM, RunningGateway, mcp_client

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]


@dataclass(frozen=True)
class Upstream:
    """How to declare one real upstream and what to exercise on it."""

    server: dict[str, Any]
    tool: str
    arguments: dict[str, Any]
    expect: str
    prompt: tuple[str, dict[str, str]] | None = None
    resources: bool = False
    url_fixture: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


UPSTREAMS = {
    "stdio-pypi-time": Upstream(
        {"transport": "stdio", "command": sys.executable, "args": ["-m", "mcp_server_time"]},
        "get_current_time",
        {"timezone": "UTC"},
        '"timezone": "UTC"',
    ),
    "stdio-npm-everything": Upstream(
        {"transport": "stdio", "command": "node", "args": [str(EVERYTHING), "stdio"]},
        "echo",
        {"message": "hi"},
        "Echo: hi",
        prompt=("simple-prompt", {}),
        resources=True,
    ),
    "stdio-npm-memory": Upstream(
        {"transport": "stdio", "command": "node", "args": [str(NPM / "server-memory" / "dist" / "index.js")]},
        "read_graph",
        {},
        "entities",
    ),
    "stdio-sdk-fixture": Upstream(
        {
            "transport": "stdio",
            "command": sys.executable,
            "args": ["-m", "tests.fixtures.sdk_server", "--stdio"],
        },
        "echo",
        {"text": "hi"},
        "hi",
        prompt=("greet", {"name": "Ada"}),
        resources=True,
    ),
    "http-legacy-everything": Upstream(
        {"transport": "http"},
        "echo",
        {"message": "hi"},
        "Echo: hi",
        ("simple-prompt", {}),
        True,
        "everything_http_url",
    ),
    "http-modern-sdk": Upstream(
        {"transport": "http"}, "echo", {"text": "hi"}, "hi", ("greet", {"name": "Ada"}), True, "sdk_http_url"
    ),
    "sse-legacy-everything": Upstream(
        {"transport": "sse"},
        "echo",
        {"message": "hi"},
        "Echo: hi",
        ("simple-prompt", {}),
        True,
        "everything_sse_url",
    ),
}


@pytest.mark.parametrize("era", ["legacy", "2026-07-28"])
@pytest.mark.parametrize("name", list(UPSTREAMS))
async def test_sdk_client_lists_and_calls_every_feature_kind_through_the_gateway(
    lockgate: RunningGateway, request: pytest.FixtureRequest, name: str, era: str
) -> None:
    upstream = UPSTREAMS[name]
    server = {"name": "up", **upstream.server}
    if upstream.url_fixture:
        server["url"] = request.getfixturevalue(upstream.url_fixture)
    lockgate.declare(
        {
            "servers": [server],
            "gateways": [
                {"name": "g", "servers": [{"server": "up", "provisioning": "allow_all", "prefix": "up"}]}
            ],
            "hosts": [{"name": "agent"}],
        }
    )
    token = lockgate.token("agent", "g")
    async with mcp_client(lockgate.url("g"), token, mode=era) as client:
        assert client.protocol_version == ("2025-11-25" if era == "legacy" else "2026-07-28")
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert f"up__{upstream.tool}" in tools
        result = await client.call_tool(f"up__{upstream.tool}", upstream.arguments)
        assert not result.is_error
        assert upstream.expect in result.content[0].text
        if upstream.prompt:
            prompt, arguments = upstream.prompt
            assert f"up__{prompt}" in {p.name for p in (await client.list_prompts()).prompts}
            got = await client.get_prompt(f"up__{prompt}", arguments)
            assert got.messages
        if upstream.resources:
            resources = (await client.list_resources()).resources
            assert resources
            read = await client.read_resource(resources[0].uri)
            assert read.contents and str(read.contents[0].uri) == str(resources[0].uri)

"""The admin MCP endpoint: the operation table as MCP tools, through the Python SDK client, in both
protocol eras, with the JSON API's capabilities, validation, error envelope and admin events."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import AsyncIterator
from typing import Any

import httpx2
import pytest
from jsonschema import Draft202012Validator
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp.types import CallToolResult, TextContent
from sqlalchemy import Engine, select

from lockgate.api.admin_mcp import AdminMcpEndpoint
from lockgate.api.operation import Context, NoInput, Operation
from lockgate.api.table import OPERATIONS
from lockgate.domain.capabilities import Capability
from lockgate.policy.access_control import EVERYONE
from lockgate.settings import Settings
from lockgate.store.people import bootstrap_super_admin
from lockgate.store.schema import admin_events
from tests.conftest import (
    DEADLINE,
    SDK_BEARER_TOKEN,
    Api,
    People,
    RunningGateway,
    lockgate_on_a_socket,  # noqa: F401 - the Python SDK's client needs a socket
    mcp_client,
)

pytestmark = pytest.mark.anyio
ERAS = ["auto", "legacy"]  # auto: the SDK's default, 2026-07-28 via server/discover; legacy: initialize


@contextlib.asynccontextmanager
async def admin_mcp(user: Api, mode: str = "auto") -> AsyncIterator[Client]:
    async with mcp_client(user.base + "/mcp", user.token, mode) as client:
        yield client


def envelope(result: CallToolResult) -> dict[str, Any]:
    """The API error envelope a refused call carries as its text."""
    assert result.is_error
    assert isinstance(result.content[0], TextContent)
    error: dict[str, Any] = json.loads(result.content[0].text)["error"]
    return error


async def test_an_agent_sets_up_a_gateway_through_the_admin_mcp_endpoint_and_a_host_calls_a_tool_on_it(
    admin: Api, lockgate: RunningGateway
) -> None:
    fixture = {
        "name": "fixture",
        "transport": "stdio",
        "command": sys.executable,
        "args": ["-m", "tests.fixtures.sdk_server", "--stdio"],
    }
    async with admin_mcp(admin) as agent:
        steps = [
            await agent.call_tool("servers_create", fixture),
            await agent.call_tool("gateways_create", {"name": "tools"}),
            await agent.call_tool(
                "gateways_assign", {"gateway": "tools", "server": "fixture", "approve_current": True}
            ),
            await agent.call_tool("hosts_create", {"name": "laptop"}),
            minted := await agent.call_tool("tokens_create", {"host": "laptop", "gateway": "tools"}),
        ]
    assert [step.is_error for step in steps] == [False] * len(steps)
    assert minted.structured_content is not None
    async with mcp_client(lockgate.url("tools"), minted.structured_content["token"]) as host:
        answer = await host.call_tool("echo", {"text": "set up by an agent"})
    assert not answer.is_error
    assert answer.content == [TextContent(text="set up by an agent")]


@pytest.mark.parametrize("mode", ERAS)
async def test_tools_list_has_one_tool_per_operation_with_its_input_schema(admin: Api, mode: str) -> None:
    async with admin_mcp(admin, mode) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert sorted(tools) == sorted(op.id for op in OPERATIONS)
    for op in OPERATIONS:
        tool = tools[op.id]
        assert tool.input_schema == op.input.model_json_schema()
        assert tool.description is not None and "\n\nRequires: " in tool.description
        if op.output is None:
            assert tool.output_schema is None
        else:
            assert tool.output_schema == op.output.model_json_schema(mode="serialization")
        for schema in (tool.input_schema, tool.output_schema or {}):
            Draft202012Validator.check_schema(schema)
    assert "capability 'Basic gateway management' (basicGatewayManagement)" in str(
        tools["gateways_create"].description
    )


@pytest.mark.parametrize("mode", ERAS)
async def test_a_tool_call_answers_the_output_as_structured_content_and_text(admin: Api, mode: str) -> None:
    async with admin_mcp(admin, mode) as client:
        created = await client.call_tool("gateways_create", {"name": "engineering"})
        renamed = await client.call_tool(
            "gateways_update", {"gateway": "engineering", "name": "eng", "if_match": 1}
        )
        deleted = await client.call_tool("gateways_delete", {"gateway": "eng"})
    assert not created.is_error
    assert created.structured_content is not None
    assert created.structured_content["name"] == "engineering"
    assert isinstance(created.content[0], TextContent)
    assert json.loads(created.content[0].text) == created.structured_content
    assert renamed.structured_content is not None
    assert renamed.structured_content["version"] == 2
    assert not deleted.is_error
    assert deleted.content == [TextContent(text="done")]
    assert admin.get("/gateways/eng").status_code == 404


async def test_a_member_calling_gateways_create_gets_a_tool_error_naming_the_capability(
    admin: Api, people: People
) -> None:
    ada = people.user("ada@example.com", "Member")
    async with admin_mcp(ada) as client:
        refused = await client.call_tool("gateways_create", {"name": "mine"})
    error = envelope(refused)
    assert error["code"] == "forbidden"
    assert error["message"] == "Capability 'Basic gateway management' is required."
    assert error["capability"] == "basicGatewayManagement"
    assert admin.get("/gateways/mine").status_code == 404


async def test_a_member_cannot_set_ld_preload_or_inject_a_header_through_the_admin_mcp_endpoint(
    admin: Api, people: People
) -> None:
    local = {"transport": "stdio", "command": "python", "identity_env": ["API_TOKEN"]}
    assert admin.post("/servers", json={"name": "local", **local}).status_code == 201
    assert admin.post(
        "/servers", json={"name": "remote", "transport": "http", "url": "https://x.example/mcp"}
    )
    admin.post("/gateways", json={"name": "eng"})
    for server in ("local", "remote"):
        admin.post("/gateways/eng/assignments", json={"server": server})
    ada = people.user("ada@example.com", "Member", ["engineers"], ["eng"])
    async with admin_mcp(ada) as client:
        preload = await client.call_tool(
            "identities_create", {"server": "local", "headers": {"LD_PRELOAD": "/tmp/x.so"}}
        )
        injected = await client.call_tool(
            "identities_create", {"server": "remote", "headers": {"X-Api-Key": "k\r\nHost: evil"}}
        )
        fine = await client.call_tool("identities_create", {"server": "local", "headers": {"API_TOKEN": "k"}})
    for refused in (preload, injected):
        assert (envelope(refused)["code"], envelope(refused)["field"]) == ("invalid_request", "headers")
    assert "LD_PRELOAD" in envelope(preload)["message"]
    assert not fine.is_error


async def test_a_bad_argument_comes_back_as_a_tool_error_naming_the_field(admin: Api) -> None:
    async with admin_mcp(admin) as client:
        bad_name = await client.call_tool("gateways_create", {"name": "no spaces"})
        typo = await client.call_tool("gateways_create", {"name": "ok", "nmae": "typo"})
        zero = await client.call_tool("gateways_update", {"gateway": "ok", "if_match": 0})
    assert envelope(bad_name)["field"] == "name"
    assert envelope(typo)["field"] == "nmae"
    assert envelope(zero)["field"] == "if_match"
    assert envelope(zero)["code"] == "invalid_request"


async def test_an_unknown_tool_is_a_protocol_error(admin: Api) -> None:
    async with admin_mcp(admin) as client:
        with pytest.raises(MCPError, match="Unknown tool: gateways_explode"):
            await client.call_tool("gateways_explode", {})


async def test_the_admin_event_of_a_tool_call_carries_the_calls_correlation_id(
    admin: Api, lockgate: RunningGateway
) -> None:
    answered: list[tuple[str, str]] = []  # (JSON-RPC method, X-Correlation-Id) of every exchange

    async def note(response: httpx2.Response) -> None:
        method = json.loads(response.request.content or b"{}").get("method", "")
        answered.append((method, response.headers["x-correlation-id"]))

    async with (
        httpx2.AsyncClient(
            headers={"Authorization": f"Bearer {admin.token}"},
            timeout=DEADLINE,
            event_hooks={"response": [note]},
        ) as http,
        Client(streamable_http_client(admin.base + "/mcp", http_client=http)) as client,
    ):
        await client.call_tool("gateways_create", {"name": "engineering"})
    with lockgate.engine.connect() as conn:
        events = conn.execute(select(admin_events)).all()
    assert [(e.operation, e.actor, e.name) for e in events] == [
        ("gateways_create", "admin@example.com", "engineering")
    ]
    assert [cid for method, cid in answered if method == "tools/call"] == [events[0].correlation_id]


def explode(_ctx: Context, _args: NoInput) -> None:
    raise RuntimeError("a bug")


async def test_an_unexpected_failure_is_a_tool_error_whose_correlation_id_is_in_the_log(
    engine: Engine, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    key = settings.key_bytes()
    token = bootstrap_super_admin(engine, key, "admin@example.com")
    exploding = Operation("things", "explode", "POST", "/things/explode", "Explode", EVERYONE, explode)
    endpoint = AdminMcpEndpoint(
        [exploding],
        engine,
        key,
        lambda actor, cid: Context(engine, actor, cid, key, settings.vault()),
        1 << 20,
        lambda *_: None,
    )
    async with (
        endpoint.run(),
        httpx2.AsyncClient(
            transport=httpx2.ASGITransport(endpoint), headers={"Authorization": f"Bearer {token}"}
        ) as http,
        Client(streamable_http_client("http://127.0.0.1/api/v1/mcp", http_client=http)) as client,
    ):
        result = await client.call_tool("things_explode", {})
    error = envelope(result)
    assert error["code"] == "internal_error"
    assert f"correlation id {error['correlation_id']}" in caplog.text
    assert "a bug" in caplog.text


@pytest.mark.parametrize(
    ("authorization", "reason"),
    [
        (None, "a personal access token is required"),
        ("Bearer lgp_unknown", "unknown, revoked or expired"),
        ("Bearer lgt_an_api_token", "not a personal access token"),
    ],
)
def test_a_missing_or_invalid_token_is_refused_with_401_before_any_mcp(
    lockgate: RunningGateway, authorization: str | None, reason: str
) -> None:
    headers = {"Accept": "application/json, text/event-stream"}
    if authorization is not None:
        headers["Authorization"] = authorization
    initialize = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}
    answer = httpx2.post(lockgate.api_url + "/mcp", json=initialize, headers=headers, timeout=DEADLINE)
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"].startswith("Bearer")
    assert reason in answer.json()["error"]["message"]


@pytest.mark.parametrize(
    ("header", "status", "code"),
    [
        ({"Origin": "http://evil.example"}, 403, "forbidden"),
        ({"Host": "evil.example"}, 421, "misdirected_request"),
    ],
)
def test_a_foreign_origin_or_host_is_refused_like_on_the_json_api(
    admin: Api, header: dict[str, str], status: int, code: str
) -> None:
    answer = admin.post("/mcp", json={}, headers=header)
    assert answer.status_code == status
    assert answer.json()["error"]["code"] == code


async def test_a_token_keeper_cannot_redirect_a_hosts_webhook_or_mint_as_an_unknown_user_as_a_tool(
    admin: Api, people: People, lockgate: RunningGateway
) -> None:
    lockgate.declare(
        {"gateways": [{"name": "engineering"}, {"name": "finance"}], "hosts": [{"name": "claude"}]}
    )
    admin.post("/tokens", json={"host": "claude", "gateway": "finance"}).raise_for_status()
    people.role("Token keeper", [Capability.CREATE_AND_MANAGE_API_TOKENS])
    kim = people.user("kim@example.com", "Token keeper", ["eng"], ["engineering"])
    async with admin_mcp(kim) as agent:
        moved = await agent.call_tool(
            "hosts_update", {"host": "claude", "webhook_url": "https://kim.example/h"}
        )
        typo = await agent.call_tool(
            "tokens_create", {"host": "claude", "gateway": "engineering", "user": "bbo@example.com"}
        )
    assert envelope(moved)["capability"] == "viewAndUseAllGateways"
    assert envelope(typo)["code"] == "not_found" and "'bbo@example.com'" in envelope(typo)["message"]
    assert admin.get("/hosts/claude").json()["webhook_url"] is None


async def test_servers_features_previews_as_the_identity_argument_names(
    admin: Api, sdk_bearer_url: str
) -> None:
    server = {"name": "locked", "transport": "http", "url": sdk_bearer_url}
    assert admin.post("/servers", json=server).status_code == 201
    bot = {"server": "locked", "name": "bot", "kind": "headers", "availability": "global"}
    bot["headers"] = {"Authorization": f"Bearer {SDK_BEARER_TOKEN}"}
    assert admin.post("/identities", json=bot).status_code == 201
    async with admin_mcp(admin) as client:
        refused = await client.call_tool("servers_features", {"server": "locked", "identity": "none"})
        previewed = await client.call_tool("servers_features", {"server": "locked", "identity": "bot"})
    assert envelope(refused)["code"] == "upstream_unavailable"
    assert previewed.structured_content is not None
    assert previewed.structured_content["identity"]["name"] == "bot"
    assert "echo" in {t["name"] for t in previewed.structured_content["tools"]}

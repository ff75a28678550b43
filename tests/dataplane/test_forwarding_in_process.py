"""Forwarding, aggregation, relaying and fan-out through the real endpoint, in process: the app is
driven over ASGI and its servers are memory servers (``tests/dataplane/in_process.py``)."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from lockgate.dataplane.errors import UPSTREAM_UNAVAILABLE
from lockgate.domain.mcp import META_PROTOCOL_VERSION, Client, Era, JsonObject
from lockgate.settings import Settings
from lockgate.upstream.base import UpstreamUnavailableError
from lockgate.upstream.memory import JsonRpcFault, MemoryServer
from tests.dataplane.in_process import ECHO, memory_gateway

pytestmark = pytest.mark.anyio
ARGUMENTS = {"text": "hello"}


def text_of(answer: JsonObject) -> str:
    content = answer["result"]["content"]
    assert content[0]["type"] == "text", content
    return str(content[0]["text"])


async def test_a_legacy_client_initializes_lists_and_calls_a_tool(settings: Settings, engine: Engine) -> None:
    alpha = MemoryServer(tools=[ECHO])
    async with memory_gateway(settings, engine, {"alpha": alpha}) as gateway:
        client = await gateway.legacy_client()

        listed = await client.request("tools/list")
        called = await client.request("tools/call", {"name": "echo", "arguments": ARGUMENTS})

    assert listed["result"]["tools"] == [ECHO]
    assert text_of(called) == '{"text":"hello"}'
    assert [(r.method, (r.params or {}).get("name")) for r in alpha.received] == [
        ("tools/list", None),
        ("tools/call", "echo"),
    ]


async def test_a_modern_client_calls_a_modern_server_with_the_eras_meta(
    settings: Settings, engine: Engine
) -> None:
    alpha = MemoryServer(era=Era.MODERN, tools=[ECHO])
    async with memory_gateway(settings, engine, {"alpha": alpha}) as gateway:
        client = gateway.modern_client()

        called = await client.request("tools/call", {"name": "echo", "arguments": ARGUMENTS})

    assert text_of(called) == '{"text":"hello"}'
    received = alpha.received[-1]
    assert received.method == "tools/call"
    assert received.params is not None and received.params["_meta"][META_PROTOCOL_VERSION] == Era.MODERN


async def test_two_servers_are_aggregated_under_their_prefixes_and_each_call_reaches_its_own(
    settings: Settings, engine: Engine
) -> None:
    alpha, beta = MemoryServer(tools=[ECHO]), MemoryServer(tools=[ECHO, {**ECHO, "name": "only_beta"}])
    assignments = [{"server": "alpha", "prefix": "a"}, {"server": "beta", "prefix": "b"}]
    async with memory_gateway(
        settings, engine, {"alpha": alpha, "beta": beta}, assignments=assignments
    ) as gateway:
        client = await gateway.legacy_client()

        listed = await client.request("tools/list")
        called = await client.request("tools/call", {"name": "b__echo", "arguments": ARGUMENTS})

    assert sorted(t["name"] for t in listed["result"]["tools"]) == ["a__echo", "b__echo", "b__only_beta"]
    assert text_of(called) == '{"text":"hello"}'
    assert [r.method for r in alpha.received] == ["tools/list"]
    assert [(r.method, (r.params or {}).get("name")) for r in beta.received][-1] == ("tools/call", "echo")


async def test_a_servers_json_rpc_error_reaches_the_client_with_its_code_message_and_data(
    settings: Settings, engine: Engine
) -> None:
    async def refuse(_arguments: JsonObject, _client: Client) -> JsonObject:
        raise JsonRpcFault(-32602, "the argument 'text' is too long", {"limit": 10})

    alpha = MemoryServer(tools=[ECHO], calls={"echo": refuse})
    async with memory_gateway(settings, engine, {"alpha": alpha}) as gateway:
        client = await gateway.legacy_client()

        answer = await client.request("tools/call", {"name": "echo", "arguments": ARGUMENTS})

    assert answer["error"] == {
        "code": -32602,
        "message": "the argument 'text' is too long",
        "data": {"limit": 10},
    }


async def test_a_server_that_goes_down_mid_call_is_answered_as_unavailable_naming_it(
    settings: Settings, engine: Engine
) -> None:
    async def crash(_arguments: JsonObject, _client: Client) -> JsonObject:
        raise UpstreamUnavailableError("server 'alpha' exited")

    alpha = MemoryServer(tools=[ECHO], calls={"echo": crash})
    async with memory_gateway(settings, engine, {"alpha": alpha}) as gateway:
        client = await gateway.legacy_client()

        answer = await client.request("tools/call", {"name": "echo", "arguments": ARGUMENTS})

    assert answer["error"]["code"] == UPSTREAM_UNAVAILABLE
    assert answer["error"]["data"] == {"server": "alpha", "reason": "server_down"}


async def test_an_elicitation_from_a_server_is_relayed_to_the_legacy_client_and_its_answer_returned(
    settings: Settings, engine: Engine
) -> None:
    async def ask_name(_arguments: JsonObject, client: Client) -> JsonObject:
        assert client.on_request is not None
        schema = {"type": "object", "properties": {"name": {"type": "string"}}}
        answer = await client.on_request(
            "elicitation/create", {"message": "Your name?", "requestedSchema": schema}
        )
        return {"content": [{"type": "text", "text": f"hello {answer['result']['content']['name']}"}]}

    alpha = MemoryServer(tools=[{**ECHO, "name": "greet"}], calls={"greet": ask_name})
    async with memory_gateway(settings, engine, {"alpha": alpha}) as gateway:
        client = await gateway.legacy_client(capabilities={"elicitation": {"form": {}}})

        async with client.stream("tools/call", {"name": "greet", "arguments": {}}) as stream:
            asked = await stream.message()
            accepted = {"action": "accept", "content": {"name": "Ada"}}
            answered = await client.post({"jsonrpc": "2.0", "id": asked["id"], "result": accepted})
            called = await stream.message()

    assert asked["method"] == "elicitation/create"
    assert asked["params"]["message"] == "Your name?"
    assert answered.status_code == 202
    assert text_of(called) == "hello Ada"


async def test_a_log_message_a_server_sends_during_a_call_reaches_the_client_ahead_of_the_result(
    settings: Settings, engine: Engine
) -> None:
    async def log_then_echo(arguments: JsonObject, client: Client) -> JsonObject:
        assert client.on_notification is not None
        await client.on_notification(
            {"method": "notifications/message", "params": {"level": "info", "data": "working"}}
        )
        return {"content": [{"type": "text", "text": "done"}]}

    alpha = MemoryServer(tools=[ECHO], calls={"echo": log_then_echo})
    async with memory_gateway(settings, engine, {"alpha": alpha}) as gateway:
        client = await gateway.legacy_client()

        async with client.stream("tools/call", {"name": "echo", "arguments": {}}) as stream:
            logged = await stream.message()
            called = await stream.message()

    assert logged == {
        "jsonrpc": "2.0",
        "method": "notifications/message",
        "params": {"level": "info", "data": "working"},
    }
    assert text_of(called) == "done"


async def test_a_tool_list_change_announced_by_a_server_reaches_a_legacy_clients_get_stream(
    settings: Settings, engine: Engine
) -> None:
    alpha = MemoryServer(tools=[dict(ECHO)])
    async with memory_gateway(settings, engine, {"alpha": alpha}) as gateway:
        client = await gateway.legacy_client()
        await client.request("tools/list")  # the connection to alpha is open

        async with client.listen_legacy() as stream:
            alpha.tools[0]["description"] = "Echoes, changed"
            await alpha.announce("notifications/tools/list_changed")
            changed = await stream.message()
        listed = await client.request("tools/list")

    assert changed == {"jsonrpc": "2.0", "method": "notifications/tools/list_changed"}
    assert listed["result"]["tools"][0]["description"] == "Echoes, changed"


async def test_a_tool_list_change_announced_by_a_server_reaches_a_modern_clients_listen_stream(
    settings: Settings, engine: Engine
) -> None:
    alpha = MemoryServer(tools=[ECHO])
    async with memory_gateway(settings, engine, {"alpha": alpha}) as gateway:
        client = gateway.modern_client()
        await client.request("tools/list")  # the connection to alpha is open

        async with client.stream(
            "subscriptions/listen", {"notifications": {"toolsListChanged": True}}
        ) as stream:
            acknowledged = await stream.message()
            await alpha.announce("notifications/prompts/list_changed")  # not asked for
            await alpha.announce("notifications/tools/list_changed")
            changed = await stream.message()

    assert acknowledged["method"] == "notifications/subscriptions/acknowledged"
    assert changed["method"] == "notifications/tools/list_changed"
    assert changed["params"]["_meta"] == acknowledged["params"]["_meta"]


async def test_a_forwarded_call_leaves_its_four_legs_naming_the_server(
    settings: Settings, engine: Engine
) -> None:
    alpha = MemoryServer(tools=[ECHO])
    async with memory_gateway(settings, engine, {"alpha": alpha}) as gateway:
        client = await gateway.legacy_client()

        response = await client.post(client.body("tools/call", {"name": "echo", "arguments": ARGUMENTS}))
        legs = await gateway.legs(response.headers["x-correlation-id"])

    assert [(leg["type"], leg["server"]) for leg in legs] == [
        ("proxy_request_success", None),
        ("mcp_request_success", "alpha"),
        ("mcp_response_success", "alpha"),
        ("proxy_response_success", None),
    ]


async def test_the_apps_shutdown_closes_its_connections_to_servers(
    settings: Settings, engine: Engine
) -> None:
    alpha = MemoryServer(tools=[ECHO])
    async with memory_gateway(settings, engine, {"alpha": alpha}) as gateway:
        client = await gateway.legacy_client()
        await client.request("tools/list")
        assert [u.closed.is_set() for u in alpha.upstreams] == [False]

    assert [u.closed.is_set() for u in alpha.upstreams] == [True]

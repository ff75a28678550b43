"""The in-memory twin of the transports behaves as a server over a wire would: copies cross, a closed
connection refuses as unsent, the era is told once, lists are paged and errors follow the era."""

from __future__ import annotations

import pytest

from lockgate.domain.mcp import Client, Era, JsonObject
from lockgate.domain.model import Server, Transport
from lockgate.upstream.base import UpstreamUnavailableError
from lockgate.upstream.memory import INVALID_PARAMS, RESOURCE_NOT_FOUND_LEGACY, MemoryServer, MemoryUpstream
from lockgate.upstream.pool import UpstreamSpec

pytestmark = pytest.mark.anyio
SERVER = Server(1, "alpha", Transport.HTTP, url="https://alpha.example/mcp")


def spec(eras: list[Era] | None = None, era: Era | None = None) -> UpstreamSpec:
    async def ignore(_message: JsonObject) -> None:
        return None

    return UpstreamSpec(SERVER, None, era, 0, (eras if eras is not None else []).append, ignore)


async def test_a_closed_memory_upstream_refuses_with_an_unavailable_error_marked_unsent() -> None:
    upstream = MemoryServer().upstream(spec())
    await upstream.close()

    with pytest.raises(UpstreamUnavailableError) as refused:
        await upstream.request("ping", None, Client())

    assert refused.value.sent is False


async def test_an_answer_is_a_copy_so_changing_it_leaves_the_servers_definitions_as_they_were() -> None:
    server = MemoryServer(tools=[{"name": "echo", "inputSchema": {"type": "object"}}])
    upstream = server.upstream(spec())

    listed = await upstream.request("tools/list", None, Client())
    listed["result"]["tools"][0]["name"] = "prefix__echo"

    assert server.tools == [{"name": "echo", "inputSchema": {"type": "object"}}]


async def test_the_era_is_told_to_the_pool_once_and_a_known_era_wins_over_the_servers() -> None:
    eras: list[Era] = []
    dual = MemoryServer(era=Era.MODERN)
    mirrored = dual.upstream(spec(eras, era=Era.LEGACY))

    for _ in range(3):
        await mirrored.request("ping", None, Client())

    assert eras == [Era.LEGACY] and mirrored.era is Era.LEGACY


async def test_a_memory_server_lists_page_by_page_when_given_a_page_size() -> None:
    server = MemoryServer(prompts=[{"name": f"p{i}"} for i in range(5)], page_size=2)
    upstream: MemoryUpstream = server.upstream(spec())
    names, cursor = [], None

    for _ in range(5):
        page = (await upstream.request("prompts/list", {"cursor": cursor} if cursor else None, Client()))[
            "result"
        ]
        names.append([p["name"] for p in page["prompts"]])
        cursor = page.get("nextCursor")
        if cursor is None:
            break

    assert names == [["p0", "p1"], ["p2", "p3"], ["p4"]]


@pytest.mark.parametrize(
    ("era", "code"),
    [(Era.LEGACY, RESOURCE_NOT_FOUND_LEGACY), (Era.MODERN, INVALID_PARAMS)],
    ids=["legacy", "modern"],
)
async def test_an_unknown_resource_is_answered_with_the_eras_error_and_its_uri(era: Era, code: int) -> None:
    server = MemoryServer(era=era, contents={"file:///known": "text"})
    upstream = server.upstream(spec())

    known = await upstream.request("resources/read", {"uri": "file:///known"}, Client())
    unknown = await upstream.request("resources/read", {"uri": "file:///missing"}, Client())

    assert known["result"]["contents"] == [{"uri": "file:///known", "mimeType": "text/plain", "text": "text"}]
    assert unknown["error"] == {
        "code": code,
        "message": "Resource not found",
        "data": {"uri": "file:///missing"},
    }

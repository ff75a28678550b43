"""Feature provisioning end to end (issue 11): real servers from the registries, the Python SDK's
client in both eras, the control plane's own operations.

- A server assigned by hand exposes nothing; ``approve-current`` makes it expose exactly what it
  offers.
- For each mode and feature kind of npm's ``server-everything`` (tools, prompts, resources,
  resource templates), the lists show exactly what passes, and calling, getting or reading anything
  else is refused with the documented error and a ``gateway_feature_blocked`` leg naming why.
- A rug pull: a real server changes a tool's description while the gateway runs; the next list
  omits it, the next call is refused as ``pin_mismatch``, a connected legacy client is told
  ``tools/list_changed``, the review shows the change field by field, and approving it restores it.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import anyio
import httpx2
import pytest
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from sqlalchemy import select

from lockgate.store.schema import audit_entries
from tests.conftest import DEADLINE, Api, RunningGateway, child, free_port, mcp_client
from tests.fixtures.sdk_server import RUG_PULLED_DESCRIPTION

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

ERAS = ["legacy", "2026-07-28"]
KINDS = ["tools", "prompts", "resources", "resourceTemplates"]
INVALID_PARAMS, RESOURCE_NOT_FOUND = -32602, -32002


def declaration(servers: dict[str, str]) -> dict[str, Any]:
    """Servers by name and URL, a gateway ``g`` with none assigned yet, a host ``agent``."""
    return {
        "servers": [{"name": n, "transport": "http", "url": u} for n, u in servers.items()],
        "gateways": [{"name": "g"}],
        "hosts": [{"name": "agent"}],
    }


async def every_page(list_page: Callable[..., Awaitable[Any]], field: str) -> list[Any]:
    items, cursor = [], None
    while True:
        page = await list_page(cursor=cursor, cache_mode="bypass")
        items += getattr(page, field)
        cursor = page.next_cursor
        if not cursor:
            return items


FIELDS = {
    "tools": "tools",
    "prompts": "prompts",
    "resources": "resources",
    "resourceTemplates": "resource_templates",
}


async def names(client: Client, kind: str) -> set[str]:
    """The names (URIs, URI templates) of every feature of ``kind`` the client is shown."""
    method = {
        "tools": client.list_tools,
        "prompts": client.list_prompts,
        "resources": client.list_resources,
        "resourceTemplates": client.list_resource_templates,
    }[kind]
    items = await every_page(method, FIELDS[kind])
    key = {"tools": "name", "prompts": "name", "resources": "uri", "resourceTemplates": "uri_template"}[kind]
    return {str(getattr(item, key)) for item in items}


# What each kind's test approves, what it then asks for that is approved, and what is not.
ALLOWED = {
    "tools": "echo",
    "prompts": "simple-prompt",
    "resources": "demo://resource/static/document/architecture.md",
    "resourceTemplates": "demo://resource/dynamic/text/{resourceId}",
}
USE = {
    "tools": ("echo", "get-sum"),
    "prompts": ("simple-prompt", "resource-prompt"),
    "resources": (
        "demo://resource/static/document/architecture.md",
        "demo://resource/static/document/features.md",
    ),
    "resourceTemplates": ("demo://resource/dynamic/text/1", "demo://resource/dynamic/blob/1"),
}


async def use(client: Client, kind: str, name: str) -> None:
    """Call, get or read one feature; raises ``MCPError`` when refused."""
    if kind == "tools":
        await client.call_tool(name, {"message": "hi"} if name == "echo" else {"a": 1, "b": 2})
    elif kind == "prompts":
        await client.get_prompt(
            name, {"resourceType": "Text", "resourceId": "1"} if "resource" in name else {}
        )
    else:
        await client.read_resource(name, cache_mode="bypass")


def refusal_code(kind: str, era: str) -> int:
    """The error an unknown feature of ``kind`` gets in ``era``: -32602, or -32002 for a legacy
    client's unknown resource (MCP 2025-11-25 server/resources §Error Handling)."""
    return (
        RESOURCE_NOT_FOUND
        if kind in ("resources", "resourceTemplates") and era == "legacy"
        else INVALID_PARAMS
    )


def blocked_legs(gateway: RunningGateway) -> list[tuple[str | None, str]]:
    """(feature name, error) of every ``gateway_feature_blocked`` leg so far."""
    gateway.flush_audit()
    query = select(audit_entries.c.feature_name, audit_entries.c.error).where(
        audit_entries.c.type == "gateway_feature_blocked"
    )
    with gateway.engine.connect() as conn:
        return [(row.feature_name, row.error or "") for row in conn.execute(query)]


async def assert_refused(
    gateway: RunningGateway, client: Client, kind: str, name: str, era: str, reason: str
) -> None:
    with pytest.raises(MCPError) as refused:
        await use(client, kind, name)
    assert refused.value.error.code == refusal_code(kind, era)
    assert "not available on this gateway" in refused.value.error.message
    assert (refused.value.error.data or {}).get("reason") == reason
    assert (name, reason) in {(feature, error.split(":", 1)[0]) for feature, error in blocked_legs(gateway)}


@pytest.fixture(scope="module")
async def offered(everything_http_url: str) -> dict[str, set[str]]:
    """What server-everything offers, asked directly (it speaks the legacy era only)."""
    async with (
        httpx2.AsyncClient(timeout=DEADLINE) as http,
        Client(streamable_http_client(everything_http_url, http_client=http), mode="legacy") as client,
    ):
        return {kind: await names(client, kind) for kind in KINDS}


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def everything(lockgate: RunningGateway, admin: Api, everything_http_url: str) -> RunningGateway:
    """server-everything assigned to ``g`` by hand, as a server is: fail-closed."""
    lockgate.declare(declaration({"everything": everything_http_url}))
    admin.post("/gateways/g/assignments", json={"server": "everything"}).raise_for_status()
    return lockgate


def provisioning(admin: Api, path: str = "", method: str = "POST", **body: Any) -> Any:
    response = admin.request(method, f"/gateways/g/assignments/everything/provisioning{path}", json=body)
    assert response.status_code < 300, response.text
    return response.json()


@pytest.mark.parametrize("era", ERAS)
async def test_a_new_assignment_exposes_nothing_until_approve_current_then_exactly_what_was_offered(
    everything: RunningGateway, admin: Api, offered: dict[str, set[str]], era: str
) -> None:
    async with mcp_client(everything.url("g"), everything.token("agent", "g"), mode=era) as client:
        for kind in KINDS:
            assert await names(client, kind) == set(), kind
        await assert_refused(everything, client, "tools", "echo", era, "awaiting_approval")

        provisioning(admin, "/approve-current")

        for kind in KINDS:
            assert await names(client, kind) == offered[kind], kind
        result = await client.call_tool("echo", {"message": "approved"})
        assert "approved" in result.content[0].text


@pytest.mark.parametrize("era", ERAS)
@pytest.mark.parametrize("kind", KINDS)
async def test_each_mode_shows_exactly_what_passes_and_refuses_the_rest(
    everything: RunningGateway, admin: Api, offered: dict[str, set[str]], kind: str, era: str
) -> None:
    allowed, other = USE[kind]
    everything_else = {k: "allow_all" for k in KINDS if k != kind}
    if kind == "resourceTemplates":  # else an unlisted URI passes under resources' allow_all
        everything_else["resources"] = "block_all"
    async with mcp_client(everything.url("g"), everything.token("agent", "g"), mode=era) as client:
        provisioning(admin, method="PATCH", modes={**everything_else, kind: "block_all"})
        assert await names(client, kind) == set()
        await assert_refused(everything, client, kind, allowed, era, "not_provisioned")

        provisioning(admin, method="PATCH", modes={kind: "allow_all"})
        assert await names(client, kind) == offered[kind]
        await use(client, kind, other)

        provisioning(admin, method="PATCH", modes={kind: "allow_selected"})
        provisioning(admin, "/approvals", kind=kind, name=ALLOWED[kind])
        assert await names(client, kind) == {ALLOWED[kind]}
        await use(client, kind, allowed)
        await assert_refused(everything, client, kind, other, era, "awaiting_approval")


# -- a rug pull ----------------------------------------------------------------------------------
@pytest.fixture
def pulling_server_url() -> Iterator[str]:
    """The SDK fixture server with its ``rug_pull`` tool, on its own (the pull changes it for good)."""
    port = free_port()
    argv = [sys.executable, "-m", "tests.fixtures.sdk_server", "--http", str(port), "--rug-pull"]
    with child(argv, "^ready"):
        yield f"http://127.0.0.1:{port}/mcp"


@pytest.fixture
async def pull(pulling_server_url: str) -> AsyncIterator[Callable[[], Awaitable[None]]]:
    """Pulls the rug from a client of the server's own, not through the gateway."""
    async with (
        httpx2.AsyncClient(timeout=DEADLINE) as http,
        Client(streamable_http_client(pulling_server_url, http_client=http), mode="legacy") as direct,
    ):

        async def pull() -> None:
            await direct.call_tool("rug_pull", {})

        yield pull


async def test_a_rug_pull_is_withheld_announced_and_shown_as_a_diff_and_re_approval_restores_it(
    lockgate: RunningGateway, admin: Api, pulling_server_url: str, pull: Callable[[], Awaitable[None]]
) -> None:
    lockgate.declare(declaration({"fixture": pulling_server_url}))
    admin.post(
        "/gateways/g/assignments", json={"server": "fixture", "approve_current": True}
    ).raise_for_status()
    changed = anyio.Event()

    async def on_message(message: Any) -> None:
        if getattr(message, "method", None) == "notifications/tools/list_changed":
            changed.set()

    token = lockgate.token("agent", "g")
    async with mcp_client(lockgate.url("g"), token, mode="legacy", message_handler=on_message) as client:
        assert "echo" in {t.name for t in (await client.list_tools(cache_mode="bypass")).tools}

        await pull()

        assert "echo" not in {t.name for t in (await client.list_tools(cache_mode="bypass")).tools}
        with anyio.fail_after(DEADLINE):
            await changed.wait()
        with pytest.raises(MCPError) as refused:
            await client.call_tool("echo", {"text": "after the pull"})
        assert refused.value.error.data["reason"] == "pin_mismatch"

        reviews = admin.get("/gateways/g/assignments/fixture/provisioning/reviews").json()["items"]
        (review,) = [r for r in reviews if r["name"] == "echo"]
        assert review["reason"] == "pin_mismatch"
        description = {c["field"]: c for c in review["diff"]}["description"]
        assert description["after"] == RUG_PULLED_DESCRIPTION
        assert description["before"] == "Return the text."
        assert description["pinned"] is True

        admin.post(
            "/gateways/g/assignments/fixture/provisioning/approvals", json={"review": review["id"]}
        ).raise_for_status()

        assert "echo" in {t.name for t in (await client.list_tools(cache_mode="bypass")).tools}
        result = await client.call_tool("echo", {"text": "approved again"})
        assert result.content[0].text == "approved again"

"""Forwarding through the pipeline in process, over an in-memory upstream: an MRTR retry for a legacy
client is a message of its own (the request steps run again) and asks the front client through the
relay; the legs are those of one send."""

from __future__ import annotations

import pytest

from lockgate.audit.recorder import AuditRecorder
from lockgate.dataplane.catalog import Catalog
from lockgate.dataplane.errors import MISSING_CAPABILITY, JsonRpcError
from lockgate.dataplane.exchange import Exchange
from lockgate.dataplane.forwarding import Forwarder
from lockgate.dataplane.pipeline import Message, Pipeline
from lockgate.domain.audit import AuditEntry
from lockgate.domain.mcp import Client, Era, JsonObject
from lockgate.domain.model import Access, Assignment, Principal, Server, Transport

pytestmark = pytest.mark.anyio
ASK = {"method": "elicitation/create", "params": {"message": "which region?"}}
ASSIGNMENT = Assignment(1, Server(1, "s1", Transport.HTTP))


class InputUpstream:
    """An open ``Upstream`` whose ``tools/call`` asks for input once, then completes."""

    era = Era.MODERN
    server_capabilities: JsonObject = {"tools": {}}
    server_info: JsonObject = {"name": "asks"}
    is_open = True

    def __init__(self) -> None:
        self.calls: list[JsonObject | None] = []

    async def connect(self, client: Client) -> None:
        return None

    async def request(self, method: str, params: JsonObject | None, client: Client) -> JsonObject:
        self.calls.append(params)
        if "inputResponses" not in (params or {}):
            result = {"resultType": "input_required", "inputRequests": {"r": ASK}, "requestState": "s"}
            return {"result": result}
        return {"result": {"resultType": "complete", "content": [], "isError": False}}

    async def notify(self, method: str, params: JsonObject | None) -> None:
        return None

    async def close(self) -> None:
        return None


class OneUpstream:
    """Stands in for the connector: every assignment reaches ``upstream``."""

    timeout = 5.0

    def __init__(self, upstream: InputUpstream) -> None:
        self.upstream = upstream

    async def open(self, assignment: Assignment, client: Client) -> InputUpstream:
        return self.upstream


def _exchange(saved: list[AuditEntry], client: Client) -> Exchange:
    principal = Principal(1, 1, "agent", 1, "g", 1, "ada@example.com")
    access = Access(principal, False, None, True, True, True, False, True, None, (ASSIGNMENT,))
    return Exchange("c", access, Era.LEGACY, "tools/call", {}, client, AuditRecorder(saved.extend))


async def test_an_input_required_result_is_asked_of_the_legacy_client_and_retried_through_the_steps() -> None:
    upstream, saved, seen, asked = InputUpstream(), [], [], []

    async def step(ex: Exchange, message: Message) -> None:
        seen.append((message.method, message.to_server, message.response is not None))

    async def ask(method: str, params: JsonObject | None) -> JsonObject:
        asked.append(method)
        return {"result": {"action": "accept", "content": {"region": "eu"}}}

    forwarder = Forwarder(OneUpstream(upstream), Catalog(), Pipeline([step]))  # type: ignore[arg-type]
    ex = _exchange(saved, Client(era=Era.LEGACY, on_request=ask))

    response = await forwarder.forward(ex, ASSIGNMENT, {"name": "t", "arguments": {}})

    assert response["result"]["resultType"] == "complete"
    assert asked == ["elicitation/create"]
    assert upstream.calls[1] == {
        "name": "t",
        "arguments": {},
        "inputResponses": {"r": {"action": "accept", "content": {"region": "eu"}}},
        "requestState": "s",
    }
    assert seen == [  # the call, the relayed request, the client's answer to it, the retry
        ("tools/call", True, False),
        ("elicitation/create", False, False),
        ("elicitation/create", False, True),
        ("tools/call", True, False),
    ]
    await ex.recorder.flush()
    assert [e.type for e in saved] == ["mcp_request_success", "mcp_response_success"]


async def test_input_required_for_a_client_that_cannot_be_asked_is_missing_capability() -> None:
    saved: list[AuditEntry] = []
    forwarder = Forwarder(OneUpstream(InputUpstream()), Catalog(), Pipeline([]))  # type: ignore[arg-type]

    with pytest.raises(JsonRpcError) as refused:
        await forwarder.forward(_exchange(saved, Client(era=Era.LEGACY)), ASSIGNMENT, {"name": "t"})

    assert refused.value.code == MISSING_CAPABILITY

"""The gateway as MRTR client: a server's ``inputRequests`` are data, bounded before anyone is asked."""

from __future__ import annotations

from typing import Any

import pytest

from lockgate.dataplane.errors import UPSTREAM_FAILED, JsonRpcError
from lockgate.dataplane.mrtr import MAX_INPUT_REQUESTS, drive_input_required
from lockgate.domain.mcp import JsonObject

pytestmark = pytest.mark.anyio
ELICIT = {"method": "elicitation/create", "params": {"message": "name?"}}


def needs(requests: Any) -> JsonObject:
    return {"result": {"resultType": "input_required", "inputRequests": requests}}


@pytest.mark.parametrize(
    "requests",
    [
        [ELICIT],
        {"a": "elicitation/create"},
        {"a": {"params": {}}},
        {"a": {"method": "elicitation/create", "params": "a string"}},
        {str(i): ELICIT for i in range(MAX_INPUT_REQUESTS + 1)},
    ],
    ids=["a list", "not objects", "no method", "params not an object", "too many"],
)
async def test_malformed_or_too_many_input_requests_fail_the_call_without_asking_the_client(
    requests: Any,
) -> None:
    asked: list[str] = []

    async def ask(method: str, params: JsonObject | None) -> JsonObject:
        asked.append(method)
        return {"result": {}}

    async def retry(params: JsonObject) -> JsonObject:
        raise AssertionError("nothing is retried")

    with pytest.raises(JsonRpcError) as failed:
        await drive_input_required(ask, retry, None, needs(requests))
    assert failed.value.code == UPSTREAM_FAILED and asked == []


async def test_as_many_input_requests_as_allowed_are_all_asked_and_answered_in_one_retry() -> None:
    asked: list[str] = []
    sent: list[JsonObject] = []

    async def ask(method: str, params: JsonObject | None) -> JsonObject:
        asked.append(method)
        return {"result": {"action": "accept"}}

    async def retry(params: JsonObject) -> JsonObject:
        sent.append(params)
        return {"result": {"content": []}}

    requests = {str(i): ELICIT for i in range(MAX_INPUT_REQUESTS)}
    done = await drive_input_required(ask, retry, {"name": "t"}, needs(requests))
    assert done == {"result": {"content": []}} and len(asked) == MAX_INPUT_REQUESTS
    assert sent[0]["inputResponses"] == {key: {"action": "accept"} for key in requests}

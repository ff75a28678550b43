"""The gateway as the MRTR client for a legacy front client (MCP 2026-07-28 basic/patterns/mrtr).

A modern server answers ``input_required`` instead of sending requests. A legacy front client can
only answer live server→client requests, so the gateway asks it each ``inputRequest`` on the call's
stream, then retries the original request with ``inputResponses`` and the untouched
``requestState``, for a bounded number of rounds. Each retry is a message of its own: the caller's
``retry`` runs it through the pipeline's request steps before it is sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from lockgate.dataplane.errors import INTERNAL_ERROR, MISSING_CAPABILITY, JsonRpcError
from lockgate.domain.mcp import JsonObject

MAX_ROUNDS = 10
Ask = Callable[[str, JsonObject | None], Awaitable[JsonObject]]
Retry = Callable[[JsonObject], Awaitable[JsonObject]]


async def drive_input_required(
    ask: Ask | None, retry: Retry, params: JsonObject | None, response: JsonObject
) -> JsonObject:
    """Resolve ``input_required`` results until the server completes (or ``MAX_ROUNDS`` pass):
    ``ask`` puts one server→client request to the front client (None: it cannot be asked),
    ``retry`` sends the original request again with the given params.

    Raises:
        JsonRpcError: -32021 when the front client cannot be asked; -32603 after too many rounds.
    """
    for _ in range(MAX_ROUNDS):
        result = response.get("result") or {}
        if result.get("resultType") != "input_required":
            return response
        if ask is None:
            raise JsonRpcError(MISSING_CAPABILITY, "the server needs input the client cannot give here")
        requests = result.get("inputRequests") or {}
        keys = list(requests)
        answers = await asyncio.gather(
            *(ask(requests[k].get("method"), requests[k].get("params")) for k in keys)
        )
        responses = {k: a.get("result", a) for k, a in zip(keys, answers, strict=True)}
        again = {**(params or {}), "inputResponses": responses}
        if "requestState" in result:
            again["requestState"] = result["requestState"]
        response = await retry(again)
    raise JsonRpcError(INTERNAL_ERROR, f"the server asked for input more than {MAX_ROUNDS} times")

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

from lockgate.dataplane.errors import INTERNAL_ERROR, MISSING_CAPABILITY, UPSTREAM_FAILED, JsonRpcError
from lockgate.domain.mcp import JsonObject

MAX_ROUNDS = 10
MAX_INPUT_REQUESTS = 32  # in one round: each becomes a live request to the front client
Ask = Callable[[str, JsonObject | None], Awaitable[JsonObject]]
Retry = Callable[[JsonObject], Awaitable[JsonObject]]


def is_input_required(response: JsonObject) -> bool:
    """The server answered ``input_required`` (MCP 2026-07-28 basic/patterns/mrtr)."""
    result = response.get("result")
    return isinstance(result, dict) and result.get("resultType") == "input_required"


def _input_requests(result: JsonObject) -> dict[str, JsonObject]:
    """The round's ``inputRequests``: an object of at most ``MAX_INPUT_REQUESTS`` request objects,
    each naming its ``method``, its ``params`` (if any) an object.

    Raises:
        JsonRpcError: -32012, the server's ``inputRequests`` are not that (a server's value is data).
    """
    requests = result.get("inputRequests") or {}
    if (
        not isinstance(requests, dict)
        or len(requests) > MAX_INPUT_REQUESTS
        or not all(
            isinstance(r, dict) and isinstance(r.get("method"), str) and isinstance(r.get("params", {}), dict)
            for r in requests.values()
        )
    ):
        message = f"the server's inputRequests are not an object of at most {MAX_INPUT_REQUESTS} requests"
        raise JsonRpcError(UPSTREAM_FAILED, message)
    return requests


async def drive_input_required(
    ask: Ask | None, retry: Retry, params: JsonObject | None, response: JsonObject
) -> JsonObject:
    """Resolve ``input_required`` results until the server completes (or ``MAX_ROUNDS`` pass):
    ``ask`` puts one server→client request to the front client (None: it cannot be asked),
    ``retry`` sends the original request again with the given params.

    Raises:
        JsonRpcError: -32021 when the front client cannot be asked; -32012 for malformed or too many
            ``inputRequests``; -32603 after too many rounds.
    """
    for _ in range(MAX_ROUNDS):
        if not is_input_required(response):
            return response
        result = response["result"]
        if ask is None:
            raise JsonRpcError(MISSING_CAPABILITY, "the server needs input the client cannot give here")
        requests = _input_requests(result)
        keys = list(requests)
        answers = await asyncio.gather(*(ask(requests[k]["method"], requests[k].get("params")) for k in keys))
        responses = {k: a.get("result", a) for k, a in zip(keys, answers, strict=True)}
        again = {**(params or {}), "inputResponses": responses}
        if "requestState" in result:
            again["requestState"] = result["requestState"]
        response = await retry(again)
    raise JsonRpcError(INTERNAL_ERROR, f"the server asked for input more than {MAX_ROUNDS} times")

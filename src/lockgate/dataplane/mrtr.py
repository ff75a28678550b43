"""The gateway as the MRTR client for a legacy front client (MCP 2026-07-28 basic/patterns/mrtr).

A modern server answers ``input_required`` instead of sending requests. A legacy front client can
only answer live server→client requests, so the gateway asks it each ``inputRequest`` on the call's
stream, then retries the original request with ``inputResponses`` and the untouched
``requestState``, for a bounded number of rounds.
"""

from __future__ import annotations

import asyncio

from lockgate.dataplane.errors import JsonRpcError
from lockgate.dataplane.exchange import Exchange
from lockgate.upstream.base import JsonObject, Upstream

MAX_ROUNDS = 10
MISSING_CAPABILITY = -32021


async def drive_input_required(
    upstream: Upstream, ex: Exchange, params: JsonObject | None, response: JsonObject
) -> JsonObject:
    """Resolve ``input_required`` results until the server completes (or ``MAX_ROUNDS`` pass).

    Raises:
        JsonRpcError: -32021 when the front client cannot be asked; -32603 after too many rounds.
    """
    ask = ex.client.on_request
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
        retry = {**(params or {}), "inputResponses": responses}
        if "requestState" in result:
            retry["requestState"] = result["requestState"]
        response = await upstream.request(ex.method, retry, ex.client)
    raise JsonRpcError(-32603, f"the server asked for input more than {MAX_ROUNDS} times")

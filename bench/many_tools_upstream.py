"""Many dual-era MCP servers with many tools in one process, as a bare ASGI app, for the list benchmark.

Server ``i`` (0 <= i < --servers) answers at ``/s{i}/mcp`` and lists --tools tools of about 300 bytes
each, in one page carrying ``ttlMs`` and ``cacheScope: public`` (MCP 2026-07-28
server/utilities/caching). ``POST /ttl`` with a JSON number sets the ``ttlMs`` every server gives from
then on (0: lists must not be kept).

    python -m bench.many_tools_upstream --port 8102 --servers 50 --tools 100
"""

import argparse
import re
from typing import Any

import orjson

from bench.fast_upstream import JSON_HEADERS, LEGACY_VERSIONS, MODERN, RESULT_META, SERVER_INFO, read_body
from bench.serve import serve_upstream

PATH = re.compile(r"/s(\d+)/mcp")
CAPABILITIES = {"tools": {}}
state: dict[str, Any] = {"ttl_ms": 60_000, "tools": {}}


def tools_of(server: int, count: int) -> list[dict[str, Any]]:
    return [
        {
            "name": f"s{server}_tool_{j:03d}",
            "title": f"Tool {j} of server {server}",
            "description": f"Does thing {j} of server {server}; " + "it takes a query and a limit. " * 3,
            "inputSchema": {
                "type": "object",
                "properties": {"query": {"type": "string"}, "limit": {"type": "integer"}},
                "required": ["query"],
            },
        }
        for j in range(count)
    ]


def result_of(method: str, params: dict[str, Any], server: int, modern: bool) -> dict[str, Any] | None:
    if method == "initialize" and not modern:
        requested = params.get("protocolVersion")
        version = requested if requested in LEGACY_VERSIONS else LEGACY_VERSIONS[0]
        return {"protocolVersion": version, "capabilities": CAPABILITIES, "serverInfo": SERVER_INFO}
    cache = {"ttlMs": state["ttl_ms"], "cacheScope": "public"}
    if method == "server/discover":
        return {"supportedVersions": [MODERN, *LEGACY_VERSIONS], "capabilities": CAPABILITIES, **cache}
    if method == "tools/list":
        return {"tools": state["tools"][server], **cache}
    if method == "ping":
        return {}
    return None


async def respond(send: Any, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body = await read_body(receive)
    if scope["path"] == "/ttl" and scope["method"] == "POST":
        state["ttl_ms"] = int(orjson.loads(body))
        await respond(send, 200, b"{}", JSON_HEADERS)
        return
    match = PATH.fullmatch(scope["path"])
    if match is None or int(match.group(1)) not in state["tools"]:
        await respond(send, 404 if scope["method"] == "POST" else 405, b"", [])
        return
    message = orjson.loads(body)
    if "id" not in message:  # notifications/initialized
        await respond(send, 202, b"", [])
        return
    params = message.get("params") or {}
    modern = (params.get("_meta") or {}).get("io.modelcontextprotocol/protocolVersion") == MODERN
    result = result_of(message.get("method"), params, int(match.group(1)), modern)
    if result is None:
        error = {"code": -32601, "message": f"Method not found: {message.get('method')}"}
        await respond(
            send, 200, orjson.dumps({"jsonrpc": "2.0", "id": message["id"], "error": error}), JSON_HEADERS
        )
        return
    if modern:
        result = {**result, "resultType": "complete", "_meta": RESULT_META}
    headers = JSON_HEADERS + (
        [(b"mcp-session-id", b"bench")] if message.get("method") == "initialize" else []
    )
    await respond(send, 200, orjson.dumps({"jsonrpc": "2.0", "id": message["id"], "result": result}), headers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8102)
    parser.add_argument("--servers", type=int, default=50)
    parser.add_argument("--tools", type=int, default=100)
    args = parser.parse_args()
    state["tools"] = {i: tools_of(i, args.tools) for i in range(args.servers)}
    serve_upstream(app, args.port)


if __name__ == "__main__":
    main()

"""A minimal, fast dual-era MCP server with one `echo` tool, as a bare ASGI app.

It exists so the benchmark can see the gateway's own cost: the upstream should cost next to nothing.
Legacy clients `initialize` and get an `Mcp-Session-Id`; modern (2026-07-28) requests carry the version in
`params._meta` and are served statelessly. Every response is one JSON body (`application/json`).

    python -m bench.fast_upstream --port 8101     # MCP endpoint: http://127.0.0.1:8101/mcp
    python -m bench.fast_upstream --tools 120     # echo and 119 more tools listed (calling them is an error)
"""

import argparse
import secrets
from typing import Any

import orjson

from bench.serve import serve_upstream

MODERN = "2026-07-28"
LEGACY_VERSIONS = ("2025-11-25", "2025-06-18", "2025-03-26")
SERVER_INFO = {"name": "bench-fast-upstream", "version": "1.0"}
ECHO_TOOL = {
    "name": "echo",
    "description": "Return the given text.",
    "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}},
}
CAPABILITIES = {"tools": {}}
TOOLS = [ECHO_TOOL]  # what tools/list answers; --tools adds filler tools after echo
RESULT_META = {"io.modelcontextprotocol/serverInfo": SERVER_INFO}
JSON_HEADERS = [(b"content-type", b"application/json")]

sessions: set[str] = set()


def on_initialize(params: dict[str, Any]) -> dict[str, Any]:
    requested = params.get("protocolVersion")
    version = requested if requested in LEGACY_VERSIONS else LEGACY_VERSIONS[0]
    return {"protocolVersion": version, "capabilities": CAPABILITIES, "serverInfo": SERVER_INFO}


def on_discover(params: dict[str, Any]) -> dict[str, Any]:
    return {
        "supportedVersions": [MODERN, *LEGACY_VERSIONS],
        "capabilities": CAPABILITIES,
        "ttlMs": 60_000,
        "cacheScope": "public",
    }


def on_list_tools(params: dict[str, Any]) -> dict[str, Any]:
    return {"tools": TOOLS, "ttlMs": 60_000, "cacheScope": "public"}


def filler_tool(number: int) -> dict[str, Any]:
    """A listed tool that only makes the list longer, about 300 bytes like a small real one."""
    return {
        "name": f"tool_{number:03d}",
        "title": f"Tool {number}",
        "description": f"Does thing {number}; " + "it takes a query and a limit. " * 3,
        "inputSchema": {
            "type": "object",
            "properties": {"query": {"type": "string"}, "limit": {"type": "integer"}},
            "required": ["query"],
        },
        "annotations": {"readOnlyHint": True},
    }


def on_call_tool(params: dict[str, Any]) -> dict[str, Any]:
    if params.get("name") != "echo":
        return {"content": [{"type": "text", "text": "unknown tool"}], "isError": True}
    text = (params.get("arguments") or {}).get("text", "")
    return {"content": [{"type": "text", "text": str(text)}], "isError": False}


LEGACY_HANDLERS = {"tools/list": on_list_tools, "tools/call": on_call_tool, "ping": lambda params: {}}
MODERN_HANDLERS = {"server/discover": on_discover, "tools/list": on_list_tools, "tools/call": on_call_tool}


def answer(message: dict[str, Any], headers: dict[bytes, bytes]) -> tuple[int, dict[str, Any], str | None]:
    """Decide one JSON-RPC request: (HTTP status, JSON-RPC response, session id to mint)."""
    method, params, msg_id = message.get("method"), message.get("params") or {}, message.get("id")
    modern = (params.get("_meta") or {}).get("io.modelcontextprotocol/protocolVersion") == MODERN

    def error(status: int, code: int, text: str) -> tuple[int, dict[str, Any], None]:
        return status, {"jsonrpc": "2.0", "id": msg_id, "error": {"code": code, "message": text}}, None

    if method == "initialize" and not modern:
        session_id = secrets.token_hex(16)
        sessions.add(session_id)
        return 200, {"jsonrpc": "2.0", "id": msg_id, "result": on_initialize(params)}, session_id
    if not modern and method != "ping":
        session_id = headers.get(b"mcp-session-id", b"").decode()
        if not session_id:
            return error(400, -32600, "Mcp-Session-Id required")
        if session_id not in sessions:
            return error(404, -32001, "Session not found")
    handler = (MODERN_HANDLERS if modern else LEGACY_HANDLERS).get(method)
    if handler is None:
        return error(404 if modern else 200, -32601, f"Method not found: {method}")
    result = handler(params)
    if modern:
        result = {**result, "resultType": "complete", "_meta": RESULT_META}
    return 200, {"jsonrpc": "2.0", "id": msg_id, "result": result}, None


async def read_body(receive: Any) -> bytes:
    body = b""
    while True:
        event = await receive()
        body += event.get("body", b"")
        if not event.get("more_body"):
            return body


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    if scope["path"] != "/mcp" or scope["method"] != "POST":
        status = 404 if scope["path"] != "/mcp" else 405
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        return
    try:
        message = orjson.loads(await read_body(receive))
    except orjson.JSONDecodeError:
        message = None
    if not isinstance(message, dict) or "method" not in message:
        status, response, minted = 400, {"jsonrpc": "2.0", "id": None, "error": {"code": -32700}}, None
    elif "id" not in message:  # a notification, e.g. notifications/initialized
        await send({"type": "http.response.start", "status": 202, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        return
    else:
        status, response, minted = answer(message, dict(scope["headers"]))
    headers = JSON_HEADERS + ([(b"mcp-session-id", minted.encode())] if minted else [])
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": orjson.dumps(response)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8101)
    parser.add_argument("--tools", type=int, default=1, help="how many tools to list, echo first (default 1)")
    args = parser.parse_args()
    TOOLS.extend(filler_tool(number) for number in range(1, args.tools))
    serve_upstream(app, args.port)


if __name__ == "__main__":
    main()

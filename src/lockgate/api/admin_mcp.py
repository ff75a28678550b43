"""The admin MCP endpoint: every control-plane operation as an MCP tool, at ``/api/v1/mcp``.

The tools are generated from the operation table: one per operation, named by its id, described with
the capability it requires, taking the operation's input model as ``inputSchema`` and answering its
output model as ``structuredContent`` (``outputSchema``). A call runs ``execute`` — the JSON API's own
path — so capabilities, validation and admin events are the same on both surfaces.

It speaks Streamable HTTP through the MCP SDK, statelessly with JSON responses, in both protocol eras
(the ``initialize`` handshake and the 2026-07-28 per-request envelope with ``server/discover``).
Host/Origin validation and the personal access token (RFC 6750; MCP basic/authorization §Access Token
Usage) are checked before any MCP processing: a refusal is the API's error envelope, 401 with
``WWW-Authenticate: Bearer``. Each HTTP request — one JSON-RPC message — gets a correlation id, answered
as ``X-Correlation-Id`` and used for the admin events a ``tools/call`` records.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

import anyio.to_thread
import mcp.types as types
import orjson
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.shared.exceptions import MCPError
from sqlalchemy import Engine
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from lockgate import __version__
from lockgate.api.auth import authenticate
from lockgate.api.errors import ApiError, Forbidden, MisdirectedRequest
from lockgate.api.http import PREFIX
from lockgate.api.operation import Context, Operation, execute
from lockgate.domain.actor import Actor

log = logging.getLogger("lockgate.api")
PATH = PREFIX + "/mcp"


def describe_tool(operation: Operation) -> types.Tool:
    """The MCP tool of one operation; GET operations are hinted read-only."""
    return types.Tool(
        name=operation.id,
        title=operation.summary,
        description=operation.documentation,
        input_schema=operation.input.model_json_schema(),
        output_schema=None
        if operation.output is None
        else operation.output.model_json_schema(mode="serialization"),
        annotations=types.ToolAnnotations(read_only_hint=True) if operation.method == "GET" else None,
    )


class AdminMcpEndpoint:
    """An ASGI app serving ``operations`` as MCP tools at ``/api/v1/mcp`` (routed there by ``app.py``).

    ``make_context(actor, correlation_id)`` builds each call's Context, as for the JSON API; ``guard(host,
    origin)`` is None or ``(status, reason)``. ``run()`` must be entered in the app's lifespan.
    """

    def __init__(
        self,
        operations: Sequence[Operation],
        engine: Engine,
        token_key: bytes,
        make_context: Callable[[Actor, str], Context],
        max_body_bytes: int,
        guard: Callable[[str | None, str | None], tuple[int, str] | None],
    ) -> None:
        self.operations = {op.id: op for op in operations}
        self.engine = engine
        self.token_key = token_key
        self.make_context = make_context
        self.guard = guard
        server: Server[Any] = Server(
            "lockgate-admin",
            version=__version__,
            instructions="Manage this Lockgate: servers, gateways and their rules, rule engines, hosts, "
            "API tokens, people, roles, teams.",
            on_list_tools=self.on_list_tools,
            on_call_tool=self.on_call_tool,
            get_tool_input_schema=lambda name: self.tools[name].input_schema if name in self.tools else None,
        )
        self.manager = StreamableHTTPSessionManager(
            server, json_response=True, stateless=True, max_request_body_size=max_body_bytes
        )

    @functools.cached_property
    def tools(self) -> dict[str, types.Tool]:
        """The tools, described on first use (their schemas take a noticeable fraction of a second)."""
        return {op_id: describe_tool(op) for op_id, op in self.operations.items()}

    def run(self) -> AbstractAsyncContextManager[None]:
        """The MCP session manager's task group, for the app's lifespan."""
        return self.manager.run()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope)
        correlation_id = str(uuid.uuid4())

        async def send_with_correlation_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-correlation-id", correlation_id.encode()),
                ]
            await send(message)

        try:
            refused = self.guard(request.headers.get("host"), request.headers.get("origin"))
            if refused is not None:
                raise (MisdirectedRequest if refused[0] == 421 else Forbidden)(refused[1])
            actor = await anyio.to_thread.run_sync(
                authenticate, self.engine, self.token_key, request.headers.get("authorization")
            )
        except ApiError as exc:
            response = Response(
                orjson.dumps(exc.envelope(correlation_id)), exc.status, media_type="application/json"
            )
            if exc.status == 401:
                response.headers["WWW-Authenticate"] = 'Bearer realm="lockgate"'
            await response(scope, receive, send_with_correlation_id)
            return
        request.state.actor = actor
        request.state.correlation_id = correlation_id
        await self.manager.handle_request(scope, receive, send_with_correlation_id)

    async def on_list_tools(
        self, _ctx: ServerRequestContext[Any], _params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=list(self.tools.values()))

    async def on_call_tool(
        self, ctx: ServerRequestContext[Any, Request], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        """Run the operation named by the tool; an ApiError is a tool error carrying its envelope.

        Raises:
            MCPError: INVALID_PARAMS for an unknown tool (MCP server/tools §Error Handling).
        """
        operation = self.operations.get(params.name)
        if operation is None:
            raise MCPError(types.INVALID_PARAMS, f"Unknown tool: {params.name}")
        assert ctx.request is not None  # always an HTTP request here
        correlation_id: str = ctx.request.state.correlation_id
        try:
            context = self.make_context(ctx.request.state.actor, correlation_id)
            output = await execute(operation, context, dict(params.arguments or {}))
        except ApiError as exc:
            return _answer(exc.envelope(correlation_id), is_error=True)
        except Exception:
            log.exception("admin MCP: unexpected error (correlation id %s)", correlation_id)
            failure = ApiError("internal error; the server log has details under this correlation id")
            return _answer(failure.envelope(correlation_id), is_error=True)
        if output is None:
            return types.CallToolResult(content=[types.TextContent(text="done")])
        return _answer(output.model_dump(mode="json"))


def _answer(content: dict[str, Any], is_error: bool = False) -> types.CallToolResult:
    text = types.TextContent(text=orjson.dumps(content).decode())
    if is_error:
        return types.CallToolResult(content=[text], is_error=True)
    return types.CallToolResult(content=[text], structured_content=content)

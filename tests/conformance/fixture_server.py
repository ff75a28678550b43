"""The conformance fixture: an MCP server on the `mcp` SDK with every fixture the conformance suites call.

Served dual-era (2025-11-25 sessions and 2026-07-28 stateless requests) over Streamable HTTP at /mcp on
127.0.0.1. Run it with `python -m tests.conformance.fixture_server --port PORT`.
"""

import argparse
import os

import uvicorn
from mcp.server.mcpserver import MCPServer, RequestStateSecurity
from starlette.applications import Starlette

from tests.conformance.fixture.catalog import PROMPTS, RESOURCES
from tests.conformance.fixture.event_log import MemoryEventLog
from tests.conformance.fixture.input_required import INPUT_REQUIRED_TOOLS, test_input_required_result_prompt
from tests.conformance.fixture.protocol import build_schema_tool, install_protocol_handlers
from tests.conformance.fixture.tools import CONTENT_TOOLS

NAME = "lockgate-conformance-fixture"


def build_server() -> MCPServer:
    # A fresh key per process: requestState only has to survive one suite run against this process.
    security = RequestStateSecurity(keys=[os.urandom(32)])
    server = MCPServer(
        NAME,
        version="1.0.0",
        log_level="WARNING",
        tools=[build_schema_tool()],
        request_state_security=security,
    )
    for tool in (*CONTENT_TOOLS, *INPUT_REQUIRED_TOOLS):
        server.add_tool(tool)
    for prompt in (*PROMPTS, test_input_required_result_prompt):
        server.prompt()(prompt)
    for uri, read, mime_type in RESOURCES:
        server.resource(uri, name=read.__name__, mime_type=mime_type)(read)
    install_protocol_handlers(server)
    return server


def build_app() -> Starlette:
    # retry_interval makes the server prime SSE streams with `retry:` so closed streams are resumed quickly.
    return build_server().streamable_http_app(event_store=MemoryEventLog(), retry_interval=100)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    # h11 drops optional whitespace around header values (RFC 9110 §5.5); httptools keeps it.
    uvicorn.run(build_app(), host="127.0.0.1", port=args.port, http="h11", log_level="warning")


if __name__ == "__main__":
    main()

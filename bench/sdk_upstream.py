"""A real MCP server built with the Python SDK (`MCPServer`), one `echo` tool, over Streamable HTTP.

Default SDK settings, so it serves both eras: legacy sessions with SSE responses, modern stateless requests.
This is the upstream a typical deployment puts behind the gateway.

    python -m bench.sdk_upstream --port 8102     # MCP endpoint: http://127.0.0.1:8102/mcp
"""

import argparse

from mcp.server.mcpserver import MCPServer

from bench.serve import serve_upstream

server = MCPServer("bench-sdk-upstream", log_level="WARNING")


@server.tool(structured_output=False)
def echo(text: str) -> str:
    """Return the given text."""
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8102)
    args = parser.parse_args()
    serve_upstream(server.streamable_http_app(), args.port, lifespan="auto")


if __name__ == "__main__":
    main()

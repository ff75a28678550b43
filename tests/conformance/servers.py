"""The MCP servers the conformance suites run against: our fixture, and servers written by others.

Each serves Streamable HTTP at /mcp on a free port. `everything` is the reference TypeScript server from
npm (`@modelcontextprotocol/server-everything`, `streamableHttp` mode, port from `PORT`); it speaks the
2025-era protocol only, so on the 2026-07-28 run it shows what a gateway does with a legacy upstream.
"""

import contextlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.conformance.processes import REPO, answers_http, free_port, start, stop, wait_until
from tests.conformance.suites import NODE


@dataclass(frozen=True)
class Server:
    """How to start one server: its argv and environment, where `{port}` stands for its port."""

    name: str
    args: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)

    def launch(self, port: int) -> tuple[list[str], dict[str, str]]:
        fill = {"port": str(port)}
        env = {name: value.format_map(fill) for name, value in self.env.items()}
        return [arg.format_map(fill) for arg in self.args], env


EVERYTHING = REPO / "node_modules" / "@modelcontextprotocol" / "server-everything" / "dist" / "index.js"

SERVERS = (
    Server("fixture", (sys.executable, "-m", "tests.conformance.fixture_server", "--port", "{port}")),
    Server("everything", (str(NODE), str(EVERYTHING), "streamableHttp"), {"PORT": "{port}"}),
)


def server(name: str) -> Server:
    return next(server for server in SERVERS if server.name == name)


@contextlib.contextmanager
def running_server(server: Server, workdir: Path, name: str) -> Iterator[str]:
    """Runs `server` on a free loopback port, logging to `workdir/<name>.log`; yields its MCP URL."""
    port = free_port()
    args, env = server.launch(port)
    process = start(args, workdir / f"{name}.log", env)
    try:
        wait_until(lambda: answers_http(f"http://127.0.0.1:{port}/mcp") is not None, process, name)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        stop(process)

"""The MCP servers the conformance suites run against: our fixture, and servers written by others.

Each serves Streamable HTTP at /mcp on a free port.
- `fixture`: ours, on the `mcp` SDK, with every fixture the suites call (tests/conformance/fixture_server.py).
- `everything`: the reference TypeScript server from npm (`@modelcontextprotocol/server-everything`,
  `streamableHttp` mode, port from `PORT`). It speaks the 2025 era only, so on the 2026-07-28 run it
  shows what a gateway does in front of a legacy server.
- `llmstxt`: a documentation server from PyPI (`llmstxt-mcp-server`, command `mcpdoc`) built on the `mcp`
  SDK v2, stateless Streamable HTTP, both eras. It serves this repository's README as its one source, so
  it reaches nothing outside this machine.
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
README = str(REPO / "README.md").replace("{", "{{").replace("}", "}}")
LLMSTXT_SOURCE = ("--urls", f"readme:{README}", "--transport", "streamable-http", "--host", "127.0.0.1")

SERVERS = (
    Server("fixture", (sys.executable, "-m", "tests.conformance.fixture_server", "--port", "{port}")),
    Server("everything", (str(NODE), str(EVERYTHING), "streamableHttp"), {"PORT": "{port}"}),
    Server(
        "llmstxt",
        (sys.executable, "-m", "mcpdoc.cli", *LLMSTXT_SOURCE, "--port", "{port}", "--log-level", "WARNING"),
    ),
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

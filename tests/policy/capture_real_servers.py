"""Captures the tool, prompt, resource and resource template definitions of real MCP servers from the
registries (installed from PyPI and npm), listed over stdio with the ``mcp`` SDK client, into
``screening_corpus/real_servers.json``: the corpus the screening tests hold free of withholding findings.

    PYTHONPATH=src .venv/bin/python -m tests.policy.capture_real_servers

The definitions are written as the servers send them (``model_dump(by_alias=True, exclude_none=True)``),
so the file changes only when a server's package does. The servers are started in a fresh temporary
directory, and each is given that directory as its one root or data file where it needs one.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import anyio
from mcp import Client, StdioServerParameters

ROOT = Path(__file__).resolve().parents[2]
NPM = ROOT / "node_modules" / "@modelcontextprotocol"
OUTPUT = Path(__file__).parent / "screening_corpus" / "real_servers.json"
DEADLINE = 60.0


def describe_servers(workdir: Path) -> dict[str, tuple[str, StdioServerParameters]]:
    """The servers to list: name → (package as published, how to start it over stdio)."""
    python, node = sys.executable, "node"
    return {
        "time": (
            "mcp-server-time (PyPI)",
            StdioServerParameters(command=python, args=["-m", "mcp_server_time"]),
        ),
        "git": (
            "mcp-server-git (PyPI)",
            StdioServerParameters(command=python, args=["-m", "mcp_server_git", "--repository", str(ROOT)]),
        ),
        "llmstxt": (
            "llmstxt-mcp-server (PyPI)",
            StdioServerParameters(
                command=python,
                args=["-m", "mcpdoc.cli", "--urls", f"readme:{ROOT / 'README.md'}", "--log-level", "WARNING"],
            ),
        ),
        "everything": (
            "@modelcontextprotocol/server-everything (npm)",
            StdioServerParameters(command=node, args=[str(NPM / "server-everything" / "dist" / "index.js")]),
        ),
        "filesystem": (
            "@modelcontextprotocol/server-filesystem (npm)",
            StdioServerParameters(
                command=node, args=[str(NPM / "server-filesystem" / "dist" / "index.js"), str(workdir)]
            ),
        ),
        "memory": (
            "@modelcontextprotocol/server-memory (npm)",
            StdioServerParameters(
                command=node,
                args=[str(NPM / "server-memory" / "dist" / "index.js")],
                env={"MEMORY_FILE_PATH": str(workdir / "memory.jsonl")},
            ),
        ),
    }


def dump(items: list[Any]) -> list[dict[str, Any]]:
    return [item.model_dump(by_alias=True, exclude_none=True, mode="json") for item in items]


async def list_definitions(parameters: StdioServerParameters) -> dict[str, Any]:
    """Every definition the server lists, by feature kind (first page of each list)."""
    with anyio.fail_after(DEADLINE):
        async with Client(parameters) as client:
            capabilities = client.server_capabilities
            listing: dict[str, Any] = {
                "serverInfo": client.server_info.model_dump(mode="json", exclude_none=True)
            }
            listing["tools"] = dump((await client.list_tools()).tools) if capabilities.tools else []
            listing["prompts"] = dump((await client.list_prompts()).prompts) if capabilities.prompts else []
            resources = capabilities.resources is not None
            listing["resources"] = dump((await client.list_resources()).resources) if resources else []
            templates = (await client.list_resource_templates()).resource_templates if resources else []
            listing["resourceTemplates"] = dump(templates)
            return listing


async def list_servers() -> dict[str, Any]:
    """Every server's listing, as ``real_servers.json`` holds it."""
    captured: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as workdir:
        for name, (package, parameters) in describe_servers(Path(workdir)).items():
            listing = await list_definitions(parameters)
            server_info = listing.pop("serverInfo")
            captured[name] = {"package": package, "serverInfo": server_info, **listing}
    return captured


async def capture() -> None:
    captured = await list_servers()
    for name, listing in captured.items():
        counts = {kind: len(listing[kind]) for kind in ("tools", "prompts", "resources", "resourceTemplates")}
        print(name, listing["serverInfo"].get("version"), counts)
    OUTPUT.write_text(json.dumps(captured, indent=1, ensure_ascii=False, sort_keys=True) + "\n")


if __name__ == "__main__":
    anyio.run(capture)

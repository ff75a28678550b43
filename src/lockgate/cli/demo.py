"""``lockgate demo``: a gateway in front of real servers, a token, and client configuration, in one go.

Servers: ``time`` (stdio, ``mcp-server-time`` from PyPI), ``memory`` (stdio,
``@modelcontextprotocol/server-memory`` from npm) and ``everything`` (Streamable HTTP,
``@modelcontextprotocol/server-everything`` from npm, started by the demo). The npm packages come
from ``npm ci`` in the repository (``./dev demo`` does it); nothing is downloaded at run time.
"""

from __future__ import annotations

import contextlib
import json
import shlex
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from lockgate.api.table import BY_ID
from lockgate.cli.client import CallFailed, Client
from lockgate.cli.context import fail, load_settings, local_client, open_store
from lockgate.cli.declarative import describe_plan
from lockgate.cli.serve import run
from lockgate.store.people import bootstrap_super_admin

GATEWAY, HOST = "demo", "demo-agent"
DEMO_ADMIN = "admin@localhost"


def find_node_modules() -> Path:
    """``node_modules`` in the working directory or the source checkout."""
    for base in (Path.cwd(), Path(__file__).resolve().parents[3]):
        candidate = base / "node_modules" / "@modelcontextprotocol"
        if (candidate / "server-everything").is_dir():
            return candidate
    fail("the npm servers are not installed: run `npm ci` in the repository (./dev demo does it)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], deadline: float = 20.0) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if process.poll() is not None:
            fail("the everything server exited at start")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.05)  # polling a port we do not own; there is no event to wait on
    fail(f"the everything server did not listen on port {port} within {deadline:g}s")


DEMO_RULES = [
    {
        "name": "mask SSNs sent to tools",
        "hook": "request",
        "detection": {"method": "regex", "presets": ["us_ssn"]},
        "action": {"kind": "mask", "visible": 4},
    },
    {
        "name": "replace emails in results",
        "hook": "response",
        "detection": {"method": "regex", "presets": ["email"]},
        "action": {"kind": "replace"},
    },
]
"""The demo gateway's rules: try `echo` with an SSN or an email (docs/rules.md)."""


def demo_declaration(node_modules: Path, everything_url: str) -> dict[str, Any]:
    """The demo's servers, gateway (with its rules) and host, as a declaration file would hold them."""
    return {
        "servers": [
            {
                "name": "time",
                "transport": "stdio",
                "command": sys.executable,
                "args": ["-m", "mcp_server_time"],
            },
            {
                "name": "memory",
                "transport": "stdio",
                "command": "node",
                "args": [str(node_modules / "server-memory" / "dist" / "index.js")],
            },
            {"name": "everything", "transport": "http", "url": everything_url},
        ],
        "gateways": [
            {
                "name": GATEWAY,
                "servers": [
                    {"server": "time", "provisioning": "allow_all", "prefix": "time"},
                    {"server": "memory", "provisioning": "allow_all", "prefix": "memory"},
                    {"server": "everything", "provisioning": "allow_all"},
                ],
                "rules": DEMO_RULES,
            }
        ],
        "hosts": [{"name": HOST, "kind": "token"}],
    }


def demo(port: Annotated[int, typer.Option(help="Port for the gateway.")] = 8080) -> None:
    """Set up a demo gateway in front of real MCP servers, mint a token, print client config, serve."""
    settings = load_settings()
    settings.port = port
    node_modules = find_node_modules()
    everything_port = free_port()
    everything = subprocess.Popen(
        ["node", str(node_modules / "server-everything" / "dist" / "index.js"), "streamableHttp"],
        env={
            "PORT": str(everything_port),
            "PATH": str(Path(sys.executable).parent) + ":/usr/local/bin:/usr/bin:/bin",
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(everything_port, everything)
        settings.key_ring(create=True)  # a demo data directory is created on the spot, like `lockgate init`
        engine = open_store(settings)
        client = local_client(settings, engine)
        declaration = demo_declaration(node_modules, f"http://127.0.0.1:{everything_port}/mcp")
        try:
            changes, token = set_up(client, declaration)
        except CallFailed as exc:
            fail(f"the demo could not be set up: {exc.describe()}")
        for line in changes:
            typer.echo(line)
        admin = bootstrap_super_admin(
            engine, settings.key_bytes(), DEMO_ADMIN, recorded_as=client.actor.email
        )
        base = f"http://127.0.0.1:{port}"
        typer.echo(format_instructions(base, token, admin, resolve_program(), node_modules.parent))
        run(settings)
    finally:
        everything.terminate()
        everything.wait(timeout=5)


def set_up(client: Client, declaration: dict[str, Any]) -> tuple[list[str], str]:
    """Apply the demo's declaration and mint its host's token through the operation table, as
    ``lockgate apply`` and ``lockgate tokens create`` do, so each change is an admin event like any
    other. Returns the changes, one line each (``+ server time``), and the token.

    Raises:
        CallFailed: the API refused the declaration or the token.
    """
    plan = orjson.loads(
        client.call(BY_ID["declaration_apply"], {"declaration": declaration, "prune": False}) or b"{}"
    )
    minted = orjson.loads(client.call(BY_ID["tokens_create"], {"host": HOST, "gateway": GATEWAY}) or b"{}")
    return describe_plan(plan["changes"]), str(minted["token"])


def resolve_program() -> str:
    """How to run ``lockgate`` from the working directory: ``lockgate`` when PATH finds this
    installation's script, else that script's path (relative under the working directory, e.g.
    ``.venv/bin/lockgate``), else ``python -m lockgate`` with this interpreter."""
    scripts = Path(sys.executable).parent
    script = scripts / "lockgate"
    found = shutil.which("lockgate")
    if found and Path(found).resolve() == script.resolve():
        return "lockgate"
    if script.is_file():
        return shlex.quote(_from_here(script))
    return f"{shlex.quote(_from_here(Path(sys.executable)))} -m lockgate"


def format_instructions(base: str, token: str, admin: str | None, program: str, node_modules: Path) -> str:
    """What to paste into clients and shells. ``admin`` is the demo Super admin's personal access
    token (None when the store already had a Super admin); ``program`` runs ``lockgate`` (see
    ``resolve_program``); ``node_modules`` holds the MCP inspector (``find_node_modules``'s parent)."""
    url = f"{base}/mcp/{GATEWAY}"
    control = (
        f"LOCKGATE_URL={base} LOCKGATE_TOKEN={admin} {program} gateways list"
        if admin
        else f"{program} --url {base} --token <your personal access token> gateways list"
    )
    activate = shlex.quote(_from_here(Path(sys.executable).parent / "activate"))
    on_path = (
        ""
        if program == "lockgate"
        else f"\n(lockgate is not on PATH: `. {activate}` puts it there; the commands below do without.)\n"
    )
    config = {
        "mcpServers": {
            "lockgate-demo": {"type": "http", "url": url, "headers": {"Authorization": f"Bearer {token}"}}
        }
    }
    return f"""
Lockgate demo gateway
  URL:    {url}
  Token:  {token}   (shown once; `{program} tokens create {HOST} {GATEWAY}` makes another)
{on_path}
Claude Code:
  claude mcp add --transport http lockgate-demo {url} --header "Authorization: Bearer {token}"

Cursor / Claude Desktop (mcp.json):
{json.dumps(config, indent=2)}

MCP inspector:
  (cd {shlex.quote(_from_here(node_modules))} && .bin/mcp-inspector-cli --cli {url} --transport http \\
    --method tools/list --header "Authorization: Bearer {token}")

Control plane ({DEMO_ADMIN}, Super admin; API at {base}/api/v1, MCP at {base}/api/v1/mcp):
  {control}

Audit log:  {program} logs        Break-glass:  {program} servers disable time
"""


def _from_here(path: Path) -> str:
    """``path`` relative to the working directory when it is under it, else as it is."""
    try:
        return str(path.absolute().relative_to(Path.cwd())) or "."
    except ValueError:
        return str(path)

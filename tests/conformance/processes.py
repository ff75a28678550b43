"""The processes a conformance run needs: the Lockgate gateway fronting a server, and the auth shim.

Each is a subprocess on a free loopback port, waited for by polling readiness against a deadline and
stopped by its own pid.
"""

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from tests.conformance.shim import HEADER_ENV

REPO = Path(__file__).resolve().parents[2]
POLL_SECONDS = 0.1

GATEWAY_YAML = """\
servers:
  - {{name: upstream, transport: http, url: "{url}"}}
gateways:
  - name: conformance
    servers:
      - {{server: upstream, provisioning: allow_all}}
hosts:
  - {{name: conformance, kind: token}}
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def answers_http(url: str) -> int | None:
    """The HTTP status `url` answers with, or None while nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback URLs we built
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


def listens(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def wait_until(
    ready: Callable[[], bool], process: subprocess.Popen[bytes], what: str, timeout: float = 30.0
) -> None:
    """Polls `ready` until it holds; fails early if `process` exits, and at the deadline."""
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} was not ready within {timeout:.0f}s")
        with contextlib.suppress(subprocess.TimeoutExpired):
            code = process.wait(timeout=POLL_SECONDS)  # waits on the process, doubling as the poll interval
            raise RuntimeError(f"{what} exited with {code} before it was ready")


def start(args: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    with log.open("ab") as sink:
        return subprocess.Popen(
            args, cwd=REPO, stdout=sink, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
        )


def stop(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout)


@dataclass(frozen=True)
class Gateway:
    url: str
    token: str


def lockgate(*args: str) -> list[str]:
    return [sys.executable, "-m", "lockgate.cli", *args]


def prepare_gateway(workdir: Path, server_url: str) -> tuple[dict[str, str], str]:
    """A fresh data dir declaring the server behind gateway `conformance`; returns its env and a token."""
    env = {**os.environ, "LOCKGATE_DATA_DIR": str(workdir / "lockgate-data")}
    declaration = workdir / "gateway.yaml"
    declaration.write_text(GATEWAY_YAML.format(url=server_url))
    for args in (lockgate("init"), lockgate("apply", "-f", str(declaration))):
        subprocess.run(args, cwd=REPO, env=env, check=True, capture_output=True, timeout=60)
    created = subprocess.run(
        lockgate("token", "create", "--host", "conformance", "--gateway", "conformance"),
        cwd=REPO, env=env, check=True, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    return env, created.stdout.strip().splitlines()[-1]


@contextlib.contextmanager
def running_gateway(workdir: Path, server_url: str) -> Iterator[Gateway]:
    """Runs `lockgate serve` in front of a server; yields the gateway's MCP URL and a bearer token."""
    env, token = prepare_gateway(workdir, server_url)
    port = free_port()
    process = start(
        lockgate("serve", "--host", "127.0.0.1", "--port", str(port)), workdir / "gateway.log", env
    )
    try:
        wait_until(lambda: answers_http(f"http://127.0.0.1:{port}/healthz") == 200, process, "lockgate serve")
        yield Gateway(f"http://127.0.0.1:{port}/mcp/conformance", token)
    finally:
        stop(process)


@contextlib.contextmanager
def running_shim(workdir: Path, gateway: Gateway) -> Iterator[str]:
    """Runs the auth shim in front of the gateway; yields the URL the suite should use."""
    upstream = str(urlsplit(gateway.url).port)
    port = free_port()
    args = [sys.executable, "-m", "tests.conformance.shim", "--port", str(port), "--upstream-port", upstream]
    env = {HEADER_ENV: f"Authorization: Bearer {gateway.token}"}
    process = start(args, workdir / "shim.log", env)
    try:
        wait_until(lambda: listens(port), process, "auth shim")
        yield f"http://127.0.0.1:{port}/mcp/conformance"
    finally:
        stop(process)

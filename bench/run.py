"""The tools/call benchmark: gateway versus direct, same upstream, same run.

For each upstream (fast bare-ASGI echo, real SDK server) x era (legacy, modern) x path (direct, gateway):
latency at 1 connection and throughput at 32 connections, measured with wrk.

    python -m bench.run [--quick] [--duration S] [--database sqlite|postgresql] [--upstream NAME]
                        [--profile DIR] [--out FILE]

With ``--database postgresql`` each gateway gets a fresh database on 127.0.0.1:5432 (user postgres,
trust authentication), created before the run and dropped after it.
"""

import argparse
import collections
import contextlib
import datetime
import http.client
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parent.parent
UPSTREAMS = {"fast": "bench.fast_upstream", "sdk": "bench.sdk_upstream"}
ERAS = ("legacy", "modern")
LEGACY_VERSION, MODERN_VERSION = "2025-11-25", "2026-07-28"
CLIENT_INFO = {"name": "lockgate-bench", "version": "1"}
ECHO_TEXT = "lockgate-bench"
CONNECTIONS = 32
POSTGRES = "postgresql://postgres@127.0.0.1:5432"
DATABASES = ("sqlite", "postgresql")
T0 = time.monotonic()
LOCKGATE = str(Path(sys.executable).with_name("lockgate"))  # the lockgate of this venv
GATEWAY_YAML = """\
servers:
  - {{name: upstream, transport: http, url: "http://127.0.0.1:{port}/mcp"}}
gateways:
  - name: bench
    servers:
      - {{server: upstream, provisioning: allow_all}}
hosts:
  - {{name: bench, kind: token}}
"""
# wrk prints its own JSON summary. Each request gets a fresh JSON-RPC id: a legacy session has 32 in flight.
WRK_SCRIPT = """\
wrk.method = "POST"
{headers}
local prefix, suffix, n = '{{"id":', [=[,{rest}]=], 0
request = function()
  n = n + 1
  return wrk.format(nil, nil, nil, prefix .. n .. suffix)
end
done = function(s, latency, requests)
  local e = s.errors
  io.write(string.format('{{"requests":%d,"duration_us":%d,"non_2xx":%d,"socket_errors":%d,'
    .. '"p50_us":%d,"p99_us":%d}}\\n', s.requests, s.duration, e.status,
    e.connect + e.read + e.write + e.timeout, latency:percentile(50), latency:percentile(99)))
end
"""


@dataclass
class Endpoint:
    """One MCP endpoint opened in one era: what every request to it carries."""

    url: str
    era: str
    headers: dict[str, str]


# ---------------------------------------------------------------- JSON-RPC over HTTP, just enough to verify


def rpc_message(era: str, method: str, params: dict[str, Any], msg_id: int | None = 1) -> dict[str, Any]:
    if era == "modern":
        params = {
            **params,
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": MODERN_VERSION,
                "io.modelcontextprotocol/clientCapabilities": {},
                "io.modelcontextprotocol/clientInfo": CLIENT_INFO,
            },
        }
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "params": params}
    if msg_id is not None:
        message["id"] = msg_id
    return message


def rpc_headers(endpoint: Endpoint, method: str, name: str | None = None) -> dict[str, str]:
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    headers.update(endpoint.headers)
    if endpoint.era == "modern":
        headers["Mcp-Method"] = method
        if name:
            headers["Mcp-Name"] = name
    return headers


def exchange(
    method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], str]:
    """One HTTP exchange on a fresh connection: (status, lower-cased headers, body text)."""
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
    try:
        connection.request(method, parts.path, body, headers or {})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read().decode()
    finally:
        connection.close()


def post(url: str, headers: dict[str, str], message: dict[str, Any]) -> tuple[dict[str, str], Any]:
    """POST one message; returns (response headers, the JSON-RPC response or None), from JSON or SSE."""
    status, response_headers, body = exchange("POST", url, json.dumps(message).encode(), headers)
    if status >= 300:
        raise RuntimeError(f"HTTP {status} for {message.get('method')}: {body[:300]!r}")
    if not body:
        return response_headers, None
    if "text/event-stream" in response_headers.get("content-type", ""):
        events = [
            json.loads(line[5:])
            for line in body.splitlines()
            if line.startswith("data:") and line[5:].strip()
        ]
        return response_headers, next(e for e in events if e.get("id") == message.get("id"))
    return response_headers, json.loads(body)


def call(endpoint: Endpoint, method: str, params: dict[str, Any], name: str | None = None) -> dict[str, Any]:
    _, response = post(
        endpoint.url, rpc_headers(endpoint, method, name), rpc_message(endpoint.era, method, params)
    )
    if "result" not in response:
        raise RuntimeError(f"{method} failed: {response}")
    return response["result"]


def open_endpoint(url: str, era: str, auth: dict[str, str]) -> Endpoint:
    if era == "modern":
        return Endpoint(url, era, {**auth, "MCP-Protocol-Version": MODERN_VERSION})
    hello = Endpoint(url, era, auth)
    params = {"protocolVersion": LEGACY_VERSION, "capabilities": {}, "clientInfo": CLIENT_INFO}
    headers, _ = post(url, rpc_headers(hello, "initialize"), rpc_message(era, "initialize", params))
    session_id = headers["mcp-session-id"]
    endpoint = Endpoint(
        url, era, {**auth, "Mcp-Session-Id": session_id, "MCP-Protocol-Version": LEGACY_VERSION}
    )
    initialized = rpc_message(era, "notifications/initialized", {}, msg_id=None)
    post(url, rpc_headers(endpoint, "notifications/initialized"), initialized)
    return endpoint


def find_echo_tool(endpoint: Endpoint) -> str:
    """The echo tool's name as this endpoint lists it (a gateway may prefix it)."""
    names = [tool["name"] for tool in call(endpoint, "tools/list", {})["tools"]]
    return next(name for name in names if name == "echo" or name.endswith("echo"))


def check_echo(endpoint: Endpoint, tool: str, text: str = ECHO_TEXT) -> None:
    result = call(endpoint, "tools/call", {"name": tool, "arguments": {"text": text}}, name=tool)
    ok = result.get("content") == [{"type": "text", "text": text}] and not result.get("isError")
    if endpoint.era == "modern":
        ok = ok and result.get("resultType") == "complete"
    if not ok:
        raise RuntimeError(f"echo through {endpoint.url} ({endpoint.era}) returned {result}")


# ---------------------------------------------------------------- wrk


def run_wrk(
    endpoint: Endpoint, tool: str, connections: int, seconds: int, workdir: Path, text: str = ECHO_TEXT
) -> dict[str, Any]:
    headers = rpc_headers(endpoint, "tools/call", tool)
    message = rpc_message(endpoint.era, "tools/call", {"name": tool, "arguments": {"text": text}}, None)
    script = workdir / "call.lua"
    script.write_text(
        WRK_SCRIPT.format(
            headers="\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items()),
            rest=json.dumps(message, separators=(",", ":"))[1:],
        )
    )
    # One wrk thread: the servers need the other core far more than wrk does. Nothing is pinned (taskset): on
    # this 2-core box pinning wrk to one core and the servers to the other gave no steadier figures and a
    # slower 1-connection p50 (cross-core wake-ups), so the scheduler places everything.
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", str(script), endpoint.url]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    stats = json.loads(output.strip().splitlines()[-1])
    return {
        "calls_per_s": round(stats["requests"] / (stats["duration_us"] / 1e6), 1),
        "p50_ms": stats["p50_us"] / 1000,
        "p99_ms": stats["p99_us"] / 1000,
        "requests": stats["requests"],
        "non_2xx": stats["non_2xx"],
        "socket_errors": stats["socket_errors"],
    }


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(
    endpoint: Endpoint,
    servers: dict[str, int],
    warmup: int,
    seconds: int,
    workdir: Path,
    profile: Path | None = None,
    text: str = ECHO_TEXT,
) -> dict[str, Any]:
    """Latency at 1 connection, then throughput at 32, with each server's CPU time per call at 32,
    echo called with ``text``; with ``profile``, py-spy samples the gateway during the 32-connection
    run into that file."""
    tool = find_echo_tool(endpoint)
    check_echo(endpoint, tool, text)
    run_wrk(endpoint, tool, CONNECTIONS, warmup, workdir, text)
    check_echo(endpoint, tool, text)
    single = run_wrk(endpoint, tool, 1, max(1, seconds // 2), workdir, text)  # the median settles quickly
    check_echo(endpoint, tool, text)
    before = {name: cpu_seconds(pid) for name, pid in servers.items()}
    with sampling(servers.get("gateway") if profile else None, seconds, profile):
        loaded = run_wrk(endpoint, tool, CONNECTIONS, seconds, workdir, text)
    loaded["cpu_ms_per_call"] = {
        name: round((cpu_seconds(pid) - before[name]) * 1000 / max(loaded["requests"], 1), 3)
        for name, pid in servers.items()
    }
    return {"tool": tool, "c1": single, f"c{CONNECTIONS}": loaded}


@contextlib.contextmanager
def sampling(pid: int | None, seconds: int, out: Path | None) -> Iterator[None]:
    """py-spy samples process ``pid`` (when given) for ``seconds`` while the block runs, writing
    collapsed stacks (one ``frame;frame;... count`` line per stack) to ``out``."""
    if pid is None or out is None:
        yield
        return
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or "py-spy"
    command = [spy, "record", "--pid", str(pid), "--duration", str(seconds), "--rate", "200"]
    command += ["--format", "raw", "--nonblocking", "--output", str(out)]
    with subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as proc:
        yield
        proc.wait(seconds + 30)


def hottest(stacks: Path, count: int = 12) -> dict[str, list[tuple[str, float]]]:
    """Where a py-spy collapsed-stacks file's samples were taken, as (function, share of samples):
    ``ours``, the innermost of Lockgate's functions on each stack (so a socket write or a database
    call counts for the Lockgate function that made it), and ``self``, the innermost frame."""
    total, ours, innermost = 0, collections.Counter[str](), collections.Counter[str]()
    for line in stacks.read_text().splitlines():
        stack, _, counted = line.rpartition(" ")
        samples, frames = int(counted), stack.split(";")
        total += samples
        innermost[frames[-1]] += samples
        mine = next((frame for frame in reversed(frames) if "(lockgate/" in frame), "(not in Lockgate)")
        ours[mine.split(":")[0].removesuffix(")") + ")"] += samples
    return {
        kind: [(function, n / max(total, 1)) for function, n in counter.most_common(count)]
        for kind, counter in (("ours", ours), ("self", innermost))
    }


# ---------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def database(kind: str) -> Iterator[dict[str, str]]:
    """The environment that points a gateway at a fresh database of ``kind``, dropped afterwards
    (SQLite lives in the gateway's data dir, so it needs nothing)."""
    if kind == "sqlite":
        yield {}
        return
    name = f"lockgate_bench_{os.getpid()}_{free_port()}"
    with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield {"LOCKGATE_DATABASE_URL": f"{POSTGRES}/{name}"}
    finally:
        with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def process(
    command: list[str], log: Path, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=out, start_new_session=True)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_until_up(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 30) -> None:
    """Wait until url answers anything over HTTP."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args} exited with {proc.returncode}:\n{log.read_text()[-2000:]}")
        try:
            exchange("GET", url)
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} not up after {timeout}s:\n{log.read_text()[-2000:]}")


@contextlib.contextmanager
def upstream(module: str, port: int, workdir: Path, *options: str) -> Iterator[tuple[str, int]]:
    """An upstream server started with ``options`` on its command line: (MCP URL, pid)."""
    log = workdir / f"{module}.log"
    with process([sys.executable, "-m", module, "--port", str(port), *options], log) as proc:
        wait_until_up(f"http://127.0.0.1:{port}/mcp", proc, log)
        yield f"http://127.0.0.1:{port}/mcp", proc.pid


def prepare_gateway(
    upstream_port: int,
    workdir: Path,
    *,
    declaration: str = GATEWAY_YAML,
    gateway: str = "bench",
    hosts: tuple[str, ...] = ("bench",),
    environment: dict[str, str] | None = None,
) -> tuple[dict[str, str], dict[str, str]]:
    """A fresh Lockgate data dir configured by ``declaration`` (formatted with the upstream's port) and
    ``environment`` on top of this one: (environment, a token per host for ``gateway``)."""
    data_dir = Path(tempfile.mkdtemp(prefix="gateway-", dir=workdir))
    env = {**os.environ, "LOCKGATE_DATA_DIR": str(data_dir), **(environment or {})}
    config = data_dir / "gateway.yaml"
    config.write_text(declaration.format(port=upstream_port))

    def cli(*args: str) -> str:
        done = subprocess.run([LOCKGATE, *args], env=env, cwd=ROOT, capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(
                f"lockgate {' '.join(args)} failed:\n{done.stdout[-1000:]}{done.stderr[-2000:]}"
            )
        return done.stdout

    cli("init")
    cli("apply", "-f", str(config))
    tokens = {h: cli("token", "create", "--host", h, "--gateway", gateway) for h in hosts}
    return env, {host: out.strip().splitlines()[-1] for host, out in tokens.items()}


@contextlib.contextmanager
def serving(env: dict[str, str], log: Path) -> Iterator[tuple[int, int]]:
    """`lockgate serve` on a prepared data dir, until the block ends: (port, pid)."""
    port = free_port()
    with process([LOCKGATE, "serve", "--host", "127.0.0.1", "--port", str(port)], log, env) as proc:
        wait_until_up(f"http://127.0.0.1:{port}/healthz", proc, log)
        yield port, proc.pid


@contextlib.contextmanager
def gateway(env: dict[str, str], token: str, log: Path) -> Iterator[tuple[str, dict[str, str], int]]:
    """`lockgate serve` on a prepared data dir: (MCP URL, auth header, pid)."""
    with serving(env, log) as (port, pid):
        yield f"http://127.0.0.1:{port}/mcp/bench", {"Authorization": f"Bearer {token}"}, pid


# ---------------------------------------------------------------- the run


def machine(**extra: Any) -> dict[str, Any]:
    """What the figures were measured on (Linux /proc), with ``extra`` facts of the run."""
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = next(
        (line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if "model name" in line), "?"
    )
    memory = next(ln for ln in Path("/proc/meminfo").read_text().splitlines() if ln.startswith("MemTotal"))
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "memory_mb": int(memory.split()[1]) // 1024,
        "python": platform.python_version(),
        "kernel": platform.release(),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "loadavg_at_start": os.getloadavg()[0],
        **extra,
    }


def wrk_version() -> str:
    return subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout.split(" [")[0].strip()


def run(
    warmup: int,
    seconds: int,
    workdir: Path,
    upstreams: dict[str, str],
    databases: dict[str, dict[str, str]],
    profile: Path | None = None,
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Measures each of ``upstreams`` (name: module) directly and through a gateway whose database
    is set by ``databases[name]`` (environment); with ``profile`` (a directory), each gateway run at
    32 connections is sampled into ``<upstream>-<era>.txt`` there."""
    rows: list[dict[str, Any]] = []
    problems: dict[str, str] = {}
    ports = {name: free_port() for name in upstreams}
    # The lockgate CLI takes seconds per command: set up all gateways at once, before anything is measured.
    with ThreadPoolExecutor() as pool:
        prepared = {
            name: pool.submit(prepare_gateway, port, workdir, environment=databases[name])
            for name, port in ports.items()
        }
    for name, module in upstreams.items():
        with (
            upstream(module, ports[name], workdir) as (upstream_url, upstream_pid),
            contextlib.ExitStack() as stack,
        ):
            servers = {"upstream": upstream_pid}
            paths: dict[str, tuple[str, dict[str, str], dict[str, int]]] = {
                "direct": (upstream_url, {}, servers)
            }
            try:
                env, tokens = prepared[name].result()
                token = tokens["bench"]
                url, auth, pid = stack.enter_context(gateway(env, token, workdir / f"lockgate-{name}.log"))
                paths["gateway"] = (url, auth, {"gateway": pid, **servers})
            except (OSError, RuntimeError) as error:
                problems[f"{name}/gateway"] = str(error)
            for era in ERAS:
                for path, (url, auth, pids) in paths.items():
                    print(f"  {time.monotonic() - T0:5.1f}s {name} {era} {path}", file=sys.stderr, flush=True)
                    try:
                        sampled = profile / f"{name}-{era}.txt" if profile and path == "gateway" else None
                        endpoint = open_endpoint(url, era, auth)
                        result = measure(endpoint, pids, warmup, seconds, workdir, sampled)
                    except Exception as error:  # recorded in the report; the other paths still run
                        problems[f"{name}/{era}/{path}"] = repr(error)
                        continue
                    if sampled is not None and sampled.exists():
                        result["profile"] = {"stacks": str(sampled), "hottest": hottest(sampled)}
                    rows.append({"upstream": name, "era": era, "path": path, **result})
    return rows, problems


def compare(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Gateway against direct for each upstream x era: added p50 ms at 1 connection, throughput ratio."""
    by_key = {(r["upstream"], r["era"], r["path"]): r for r in rows}
    comparisons = []
    for (name, era, path), gw in by_key.items():
        direct = by_key.get((name, era, "direct"))
        if path != "gateway" or direct is None:
            continue
        comparisons.append(
            {
                "upstream": name,
                "era": era,
                "added_p50_ms": round(gw["c1"]["p50_ms"] - direct["c1"]["p50_ms"], 3),
                "throughput_ratio": round(gw["c32"]["calls_per_s"] / direct["c32"]["calls_per_s"], 3),
            }
        )
    return comparisons


def render(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = [
        f"tools/call benchmark {m['date']}: {m['cpu']}, {m['cores']} cores, Python {m['python']}, "
        f"{m['wrk']}, gateway on {m.get('database', 'sqlite')}",
        f"wrk: {report['seconds']} s at 32 connections, half at 1, after {report['warmup']} s of warm-up; "
        f"load average {m['loadavg_at_start']:.2f} at start, {report['loadavg_at_end']:.2f} at end",
        "",
        f"{'':25}{'-- 1 connection --':>16} | {'-' * 21} 32 connections {'-' * 22} | gateway/direct",
        f"{'upstream':8} {'era':7} {'path':8} {'p50 ms':>7} {'p99 ms':>7} | {'calls/s':>8} {'p50 ms':>7} "
        f"{'p99 ms':>7} {'non-2xx':>8} {'sock err':>8} {'CPU ms':>6} | {'+p50 ms':>7} {'calls/s x':>9}",
    ]
    ratios = {(c["upstream"], c["era"]): c for c in report["comparisons"]}
    for r in report["rows"]:
        c1, c32 = r["c1"], r["c32"]
        extra = ""
        if r["path"] == "gateway" and (r["upstream"], r["era"]) in ratios:
            c = ratios[(r["upstream"], r["era"])]
            extra = f"{c['added_p50_ms']:>7.2f} {c['throughput_ratio']:>9.2f}"
        non_2xx, socket_errors = c1["non_2xx"] + c32["non_2xx"], c1["socket_errors"] + c32["socket_errors"]
        cpu_ms = sum(c32["cpu_ms_per_call"].values())
        lines.append(
            f"{r['upstream']:8} {r['era']:7} {r['path']:8} {c1['p50_ms']:>7.2f} {c1['p99_ms']:>7.2f} | "
            f"{c32['calls_per_s']:>8.0f} {c32['p50_ms']:>7.2f} {c32['p99_ms']:>7.2f} {non_2xx:>8} "
            f"{socket_errors:>8} {cpu_ms:>6.2f} | {extra}"
        )
    for what, problem in report["problems"].items():
        last_line = next((line for line in reversed(problem.splitlines()) if line.strip()), "")
        lines.append(f"NOT MEASURED {what}: {last_line[:200]}")
    lines.append(
        "CPU ms: CPU time of the servers on the path (upstream, plus gateway) per call at 32 connections"
    )
    for r in report["rows"]:
        hottest_in = r.get("profile", {}).get("hottest", {})
        for kind, title in (("ours", "innermost Lockgate function"), ("self", "innermost frame")):
            if kind in hottest_in:
                lines.append(f"\ngateway {r['upstream']} {r['era']}, share of py-spy samples: {title}")
                lines += [f"  {share:6.1%}  {function}" for function, share in hottest_in[kind]]
    return "\n".join(lines)


def write_report(report: dict[str, Any], out: Path | None, prefix: str) -> Path:
    """Write ``report`` as JSON to ``out``, default ``bench/results/<prefix><timestamp>.json``."""
    out = out or ROOT / "bench" / "results" / f"{prefix}{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: --duration 2, 1 s warm-up")
    parser.add_argument(
        "--duration",
        type=int,
        help="seconds of each 32-connection run, half that at 1 connection (default 8)",
    )
    parser.add_argument(
        "--database",
        choices=DATABASES,
        default="sqlite",
        help="the gateway's store: SQLite in its data dir, or a fresh PostgreSQL database on "
        "127.0.0.1:5432 (user postgres, trust), dropped after the run (default sqlite)",
    )
    parser.add_argument(
        "--upstream", choices=UPSTREAMS, action="append", help="measure only this upstream (repeatable)"
    )
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="sample each gateway's 32-connection run with py-spy into DIR/<upstream>-<era>.txt "
        "(collapsed stacks) and print its hottest functions",
    )
    parser.add_argument("--out", type=Path, help="JSON report (default bench/results/<timestamp>.json)")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk not found: apt-get install wrk")
    seconds = args.duration or (2 if args.quick else 8)
    warmup = 1 if args.quick else 2
    report: dict[str, Any] = {
        "machine": machine(wrk=wrk_version(), database=args.database),
        "seconds": seconds,
        "warmup": warmup,
        "connections": [1, CONNECTIONS],
    }
    started = time.monotonic()
    upstreams = {name: UPSTREAMS[name] for name in args.upstream or UPSTREAMS}
    with tempfile.TemporaryDirectory(prefix="lockgate-bench-") as tmp, contextlib.ExitStack() as stack:
        databases = {name: stack.enter_context(database(args.database)) for name in upstreams}
        if args.profile:
            args.profile.mkdir(parents=True, exist_ok=True)
        report["rows"], report["problems"] = run(
            warmup, seconds, Path(tmp), upstreams, databases, args.profile
        )
    report["comparisons"] = compare(report["rows"])
    report["loadavg_at_end"] = os.getloadavg()[0]
    report["wall_s"] = round(time.monotonic() - started, 1)
    out = write_report(report, args.out, "")
    print(render(report))
    print(f"\n{report['wall_s']} s; written to {os.path.relpath(out)}")


if __name__ == "__main__":
    main()

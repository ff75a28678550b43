"""The tools/list benchmark: one aggregated list through the gateway over many servers, cold and warm.

50 HTTP servers x 100 tools (``bench.many_tools_upstream``, one process) behind one gateway; a modern
client lists tools over one keep-alive connection, one request at a time. Cold: the servers answer
``ttlMs: 0``, so every list asks every server again. Warm: they answer ``ttlMs: 60000, cacheScope:
public``, so the gateway may answer from its catalog until that passes. Both in the same run.

    python -m bench.lists [--servers N] [--tools N] [--requests N] [--out FILE]
"""

import argparse
import http.client
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.run import (
    ROOT,
    free_port,
    machine,
    prepare_gateway,
    process,
    rpc_message,
    serving,
    wait_until_up,
)

GATEWAY = "lists"
MODERN_HEADERS = {
    "Content-Type": "application/json",
    "Accept": "application/json, text/event-stream",
    "MCP-Protocol-Version": "2026-07-28",
    "Mcp-Method": "tools/list",
}


def declaration(servers: int) -> str:
    """The gateway of ``servers`` HTTP servers at ``/s{i}/mcp`` of the upstream's ``{port}``."""
    lines = ["servers:"]
    lines += [
        f'  - {{{{name: s{i}, transport: http, url: "http://127.0.0.1:{{port}}/s{i}/mcp"}}}}'
        for i in range(servers)
    ]
    lines += ["gateways:", f"  - name: {GATEWAY}", "    servers:"]
    lines += [f"      - {{{{server: s{i}, provisioning: allow_all}}}}" for i in range(servers)]
    lines += ["hosts:", "  - {{name: bench, kind: token}}", ""]
    return "\n".join(lines)


def set_ttl(upstream_port: int, ttl_ms: int) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=10)
    connection.request("POST", "/ttl", json.dumps(ttl_ms).encode())
    connection.getresponse().read()
    connection.close()


def list_tools(
    connection: http.client.HTTPConnection, path: str, headers: dict[str, str]
) -> tuple[float, bytes]:
    """One tools/list on a kept-alive connection: (milliseconds until the whole body is read, body)."""
    body = json.dumps(rpc_message("modern", "tools/list", {})).encode()
    started = time.perf_counter()
    connection.request("POST", path, body, headers)
    response = connection.getresponse()
    data = response.read()
    elapsed = (time.perf_counter() - started) * 1000
    if response.status != 200:
        raise RuntimeError(f"HTTP {response.status}: {data[:300]!r}")
    return elapsed, data


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "n": len(ordered),
        "p50_ms": round(statistics.median(ordered), 2),
        "p95_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))], 2),
    }


def measure(
    port: int, token: str, upstream_port: int, requests: int, servers: int, tools: int
) -> dict[str, Any]:
    path = f"/mcp/{GATEWAY}"
    headers = {**MODERN_HEADERS, "Authorization": f"Bearer {token}"}
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    set_ttl(upstream_port, 0)
    first_ms, data = list_tools(connection, path, headers)  # opens a connection to every server
    result = json.loads(data)["result"]
    if len(result["tools"]) != servers * tools:
        raise RuntimeError(f"listed {len(result['tools'])} tools, not {servers * tools}")
    cold = [list_tools(connection, path, headers)[0] for _ in range(requests)]
    set_ttl(upstream_port, 60_000)
    list_tools(connection, path, headers)  # the catalog keeps what this one lists
    warm, last = [], b""
    for _ in range(requests):
        elapsed, last = list_tools(connection, path, headers)
        warm.append(elapsed)
    warm_result = json.loads(last)["result"]
    if warm_result["tools"] != result["tools"] or warm_result["cacheScope"] != "private":
        raise RuntimeError("the warm list differs from the cold one")
    connection.close()
    return {
        "body_bytes": len(data),
        "tools": len(result["tools"]),
        "first_list_ms": round(first_ms, 2),
        "cold": summary(cold),
        "warm": summary(warm),
        "warm_ttl_ms_answered": warm_result["ttlMs"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, default=50)
    parser.add_argument("--tools", type=int, default=100)
    parser.add_argument("--requests", type=int, default=100, help="lists measured cold, and again warm")
    parser.add_argument("--out", type=Path, help="JSON report (default bench/results/lists-<timestamp>.json)")
    args = parser.parse_args()
    started = time.monotonic()
    report: dict[str, Any] = {"machine": machine(servers=args.servers, tools_per_server=args.tools)}
    with tempfile.TemporaryDirectory(prefix="lockgate-lists-") as tmp:
        workdir, upstream_port = Path(tmp), free_port()
        env, tokens = prepare_gateway(
            upstream_port, workdir, declaration=declaration(args.servers), gateway=GATEWAY
        )
        command = [sys.executable, "-m", "bench.many_tools_upstream", "--port", str(upstream_port)]
        command += ["--servers", str(args.servers), "--tools", str(args.tools)]
        log = workdir / "upstream.log"
        with process(command, log) as upstream, serving(env, workdir / "lockgate.log") as (port, _pid):
            wait_until_up(f"http://127.0.0.1:{upstream_port}/ttl", upstream, log)
            report["lists"] = measure(
                port, tokens["bench"], upstream_port, args.requests, args.servers, args.tools
            )
    report["wall_s"] = round(time.monotonic() - started, 1)
    out = args.out or ROOT / "bench" / "results" / f"lists-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    lists, m = report["lists"], report["machine"]
    print(f"tools/list benchmark {m['date']}: {m['cpu']}, {m['cores']} cores, Python {m['python']}")
    print(f"{args.servers} x {args.tools} tools = {lists['tools']} tools, {lists['body_bytes']} bytes a list")
    print(f"first list (connects to every server): {lists['first_list_ms']} ms")
    for phase in ("cold", "warm"):
        s = lists[phase]
        print(f"{phase}: p50 {s['p50_ms']} ms, p95 {s['p95_ms']} ms over {s['n']} lists")
    print(f"\n{report['wall_s']} s; written to {os.path.relpath(out)}")


if __name__ == "__main__":
    main()

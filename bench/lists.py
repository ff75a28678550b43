"""The tools/list benchmark: one aggregated list through the gateway over many servers, cold and warm.

50 HTTP servers x 100 tools (``bench.many_tools_upstream``, one process) behind one gateway; a modern
client lists tools over one keep-alive connection, one request at a time. Cold: the servers answer
``ttlMs: 0``, so every list asks every server again. Warm: they answer ``ttlMs: 60000, cacheScope:
public``, so the gateway may answer from its catalog until that passes. Both in the same run.

Every assignment is ``allow_all`` for tools. With ``--provisioning``, a second gateway (its own data
dir and ``lockgate serve``) fronts the same servers with every assignment ``allow_selected`` and every
tool approved as its server lists it, every field pinned (``bench.provisioning.provision``), and is
measured with it, the two taking turns list by list.

    python -m bench.lists [--servers N] [--tools N] [--requests N] [--provisioning] [--out FILE]
"""

import argparse
import contextlib
import http.client
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.provisioning import listed_tools, provision
from bench.run import (
    free_port,
    machine,
    prepare_gateway,
    process,
    rpc_message,
    serving,
    wait_until_up,
    write_report,
)
from lockgate.domain.provisioning import Mode

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
    targets: dict[str, tuple[int, str]], upstream_port: int, requests: int, servers: int, tools: int
) -> dict[str, dict[str, Any]]:
    """Lists through each gateway of ``targets`` (name: (port, token)), cold then warm, the gateways
    taking turns list by list (their order reversed every other list), so all see the same machine
    weather: {name: figures}."""
    path = f"/mcp/{GATEWAY}"
    clients = {
        name: (
            http.client.HTTPConnection("127.0.0.1", port, timeout=60),
            {**MODERN_HEADERS, "Authorization": f"Bearer {token}"},
        )
        for name, (port, token) in targets.items()
    }

    def turn(number: int) -> dict[str, tuple[float, bytes]]:
        order = list(clients) if number % 2 == 0 else list(reversed(clients))
        return {name: list_tools(clients[name][0], path, clients[name][1]) for name in order}

    def phase() -> tuple[dict[str, list[float]], dict[str, tuple[float, bytes]]]:
        """``requests`` turns: (each gateway's times, the last turn)."""
        times: dict[str, list[float]] = {name: [] for name in clients}
        last: dict[str, tuple[float, bytes]] = {}
        for number in range(requests):
            last = turn(number)
            for name, (elapsed, _) in last.items():
                times[name].append(elapsed)
        return times, last

    set_ttl(upstream_port, 0)
    first = turn(0)  # opens a connection to every server
    listed = {name: json.loads(data)["result"]["tools"] for name, (_, data) in first.items()}
    for name, found in listed.items():
        if len(found) != servers * tools:
            raise RuntimeError(f"{name} listed {len(found)} tools, not {servers * tools}")
    cold, _ = phase()
    set_ttl(upstream_port, 60_000)
    turn(0)  # the catalog keeps what this one lists
    warm, last = phase()
    figures = {}
    for name, (connection, _) in clients.items():
        connection.close()
        warm_result = json.loads(last[name][1])["result"]
        if warm_result["tools"] != listed[name] or warm_result["cacheScope"] != "private":
            raise RuntimeError(f"{name}: the warm list differs from the cold one")
        figures[name] = {
            "body_bytes": len(first[name][1]),
            "tools": len(listed[name]),
            "first_list_ms": round(first[name][0], 2),
            "cold": summary(cold[name]),
            "warm": summary(warm[name]),
            "warm_ttl_ms_answered": warm_result["ttlMs"],
        }
    return figures


def run(args: argparse.Namespace, workdir: Path, modes: tuple[Mode, ...]) -> dict[str, Any]:
    """One gateway per tools mode in ``modes`` in front of the same servers, all serving at once and
    measured in turns: {mode: what ``measure`` reports}."""
    upstream_port = free_port()
    prepared = {
        mode: prepare_gateway(upstream_port, workdir, declaration=declaration(args.servers), gateway=GATEWAY)
        for mode in modes
    }
    command = [sys.executable, "-m", "bench.many_tools_upstream", "--port", str(upstream_port)]
    command += ["--servers", str(args.servers), "--tools", str(args.tools)]
    log = workdir / "upstream.log"
    with process(command, log) as upstream:
        wait_until_up(f"http://127.0.0.1:{upstream_port}/ttl", upstream, log)
        for mode, (env, _tokens) in prepared.items():
            for i in range(args.servers):
                url = f"http://127.0.0.1:{upstream_port}/s{i}/mcp"
                approved = listed_tools(url, "modern", {}) if mode is Mode.ALLOW_SELECTED else []
                provision(env, GATEWAY, f"s{i}", mode, approved)
        with contextlib.ExitStack() as stack:
            targets = {}
            for mode, (env, tokens) in prepared.items():
                port, _pid = stack.enter_context(serving(env, workdir / f"lockgate-{mode.value}.log"))
                targets[mode.value] = (port, tokens["bench"])
            return measure(targets, upstream_port, args.requests, args.servers, args.tools)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, default=50)
    parser.add_argument("--tools", type=int, default=100)
    parser.add_argument("--requests", type=int, default=100, help="lists measured cold, and again warm")
    parser.add_argument(
        "--provisioning",
        action="store_true",
        help="also measure a gateway whose assignments are allow_selected with every tool approved",
    )
    parser.add_argument("--out", type=Path, help="JSON report (default bench/results/lists-<timestamp>.json)")
    args = parser.parse_args()
    started = time.monotonic()
    modes = (Mode.ALLOW_ALL, Mode.ALLOW_SELECTED) if args.provisioning else (Mode.ALLOW_ALL,)
    report: dict[str, Any] = {"machine": machine(servers=args.servers, tools_per_server=args.tools)}
    with tempfile.TemporaryDirectory(prefix="lockgate-lists-") as tmp:
        report["lists"] = run(args, Path(tmp), modes)
    report["wall_s"] = round(time.monotonic() - started, 1)
    out = write_report(report, args.out, "lists-")
    m = report["machine"]
    print(f"tools/list benchmark {m['date']}: {m['cpu']}, {m['cores']} cores, Python {m['python']}")
    for mode, lists in report["lists"].items():
        size = f"{lists['tools']} tools, {lists['body_bytes']} bytes a list"
        print(f"\n{mode}: {args.servers} servers x {args.tools} tools = {size}")
        print(f"first list (connects to every server): {lists['first_list_ms']} ms")
        for phase in ("cold", "warm"):
            s = lists[phase]
            print(f"{phase}: p50 {s['p50_ms']} ms, p95 {s['p95_ms']} ms over {s['n']} lists")
    print(f"\n{report['wall_s']} s; written to {os.path.relpath(out)}")


if __name__ == "__main__":
    main()

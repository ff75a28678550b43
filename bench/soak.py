"""The exhaustion soak: a bounded gateway under 10,000 legacy sessions and 1,000 slow connections,
while a normal client keeps calling a tool.

    python -m bench.soak [--sessions 10000] [--slow 1000] [--duration 60] [--rss-bound-mb 400]

One `lockgate serve` (its own data dir, default settings but for the ones printed) in front of the
fast upstream (`bench/fast_upstream.py`). Three things run at once:

* **normal**: a legacy client, initialized first under its own host's token, calling `echo` every
  100 ms for the whole run; every call must succeed. A second session of the same host, **quiet**,
  is opened then and used only at the end: it must still be there (an eviction of the least
  recently used session would have ended it).
* **sessions**: another host's token sends `--sessions` `initialize` requests, each with 16 KiB of
  junk in `clientInfo`, 8 at a time. Its connection may hold them all, so the gateway's global cap
  (`LOCKGATE_MAX_SESSIONS`) is what stops it: the ones past the cap must get 503, and the normal
  client's session must survive.
* **slow**: `--slow` connections each sending a request head one byte a second (slowloris), opened
  again whenever the gateway closes them (`LOCKGATE_REQUEST_READ_TIMEOUT`).

The gateway's resident memory (VmRSS) is sampled every 0.5 s. The run fails (exit status 1) if a
normal call failed, if either normal session was lost, or if the peak RSS passed `--rss-bound-mb`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.run import ROOT, free_port, machine, prepare_gateway, serving, upstream

LEGACY_VERSION = "2025-11-25"
GATEWAY_YAML = """\
servers:
  - {{name: upstream, transport: http, url: "http://127.0.0.1:{port}/mcp"}}
gateways:
  - name: soak
    servers:
      - {{server: upstream, provisioning: allow_all}}
hosts:
  - {{name: normal, kind: token}}
  - {{name: attacker, kind: token}}
"""
JUNK = "j" * 16 * 1024
CALL_INTERVAL = 0.1  # seconds between the normal client's calls
RSS_INTERVAL = 0.5


@dataclass
class Figures:
    normal_ok: int = 0
    normal_failed: list[str] = field(default_factory=list)
    normal_latency_ms: list[float] = field(default_factory=list)
    sessions_created: int = 0
    sessions_refused_503: int = 0
    sessions_other: dict[str, int] = field(default_factory=dict)
    slow_opened: int = 0
    slow_closed_by_gateway: int = 0
    slow_open_peak: int = 0
    slow_open_now: int = 0
    rss_mb: list[float] = field(default_factory=list)


def rss_mb(pid: int) -> float:
    """The process's resident set size in MB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


# ---------------------------------------------------------------- the clients


def headers(token: str, session: str | None = None) -> dict[str, str]:
    out = {"Authorization": f"Bearer {token}", "Accept": "application/json, text/event-stream"}
    if session is not None:
        out |= {"Mcp-Session-Id": session, "MCP-Protocol-Version": LEGACY_VERSION}
    return out


def initialize_message(info: dict[str, Any]) -> dict[str, Any]:
    params = {"protocolVersion": LEGACY_VERSION, "capabilities": {}, "clientInfo": info}
    return {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": params}


def answer(response: httpx.Response) -> dict[str, Any]:
    """The JSON-RPC response in a JSON or SSE body."""
    if "text/event-stream" in response.headers.get("content-type", ""):
        events = [
            json.loads(ln[5:])
            for ln in response.text.splitlines()
            if ln.startswith("data:") and ln[5:].strip()
        ]
        return next(e for e in events if "id" in e)
    return response.json()  # type: ignore[no-any-return]


async def normal_client(
    url: str, token: str, figures: Figures, ready: asyncio.Event, stop: asyncio.Event
) -> str:
    """Initialize (then set ``ready``), then call echo every CALL_INTERVAL until ``stop``; returns the
    session id."""
    async with httpx.AsyncClient(timeout=30) as http:
        hello = await http.post(
            url, json=initialize_message({"name": "normal", "version": "1"}), headers=headers(token)
        )
        session = hello.headers["mcp-session-id"]
        note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
        await http.post(url, json=note, headers=headers(token, session))
        ready.set()
        n = 0
        while not stop.is_set():
            n += 1
            call = {
                "jsonrpc": "2.0",
                "id": n,
                "method": "tools/call",
                "params": {"name": "echo", "arguments": {"text": f"n{n}"}},
            }
            started = time.perf_counter()
            try:
                response = await http.post(url, json=call, headers=headers(token, session))
                text = answer(response)["result"]["content"][0]["text"]
                if text != f"n{n}":
                    raise RuntimeError(f"echoed {text!r}")
                figures.normal_ok += 1
                figures.normal_latency_ms.append((time.perf_counter() - started) * 1000)
            except Exception as error:  # every failure is a finding: recorded, and the run fails
                figures.normal_failed.append(f"call {n}: {error!r}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), CALL_INTERVAL)
        return session


async def flood_sessions(url: str, token: str, count: int, figures: Figures) -> None:
    """``count`` initialize requests with a large clientInfo, 8 in flight."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(i)
    message = initialize_message(
        {"name": "attacker", "version": "1", "description": JUNK, "icons": [{"src": JUNK}]}
    )

    async def worker() -> None:
        async with httpx.AsyncClient(timeout=60) as http:
            while not queue.empty():
                queue.get_nowait()
                response = await http.post(url, json=message, headers=headers(token))
                if response.status_code == 200:
                    figures.sessions_created += 1
                elif response.status_code == 503:
                    figures.sessions_refused_503 += 1
                else:
                    key = str(response.status_code)
                    figures.sessions_other[key] = figures.sessions_other.get(key, 0) + 1

    await asyncio.gather(*(worker() for _ in range(8)))


async def slow_connection(port: int, figures: Figures, stop: asyncio.Event) -> None:
    """Send a request head a byte a second; when the gateway closes the connection, open another."""
    head = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"s" * 4096
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(1)  # the listener's backlog is full: try again, as an attacker would
            continue
        figures.slow_opened += 1
        figures.slow_open_now += 1
        figures.slow_open_peak = max(figures.slow_open_peak, figures.slow_open_now)
        try:
            for byte in head:
                if stop.is_set():
                    break
                writer.write(bytes([byte]))
                await writer.drain()
                try:
                    await asyncio.wait_for(reader.read(1024), 1.0)  # a 408, or EOF: closed by the gateway
                except TimeoutError:
                    continue  # still open: the next byte
                figures.slow_closed_by_gateway += 1
                break
        except OSError:
            figures.slow_closed_by_gateway += 1
        finally:
            figures.slow_open_now -= 1
            writer.close()


async def sample_rss(pid: int, figures: Figures, stop: asyncio.Event) -> None:
    while not stop.is_set():
        figures.rss_mb.append(rss_mb(pid))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), RSS_INTERVAL)


async def soak(
    port: int, pid: int, tokens: dict[str, str], args: argparse.Namespace
) -> tuple[Figures, dict[str, Any]]:
    url = f"http://127.0.0.1:{port}/mcp/soak"
    figures, stop = Figures(), asyncio.Event()
    baseline = rss_mb(pid)
    sampler = asyncio.create_task(sample_rss(pid, figures, stop))
    ready = asyncio.Event()
    normal = asyncio.create_task(normal_client(url, tokens["normal"], figures, ready, stop))
    await asyncio.wait_for(ready.wait(), 30)  # the normal sessions exist before anything else starts
    async with httpx.AsyncClient(timeout=30) as http:
        hello = initialize_message({"name": "quiet", "version": "1"})
        quiet = (await http.post(url, json=hello, headers=headers(tokens["normal"]))).headers[
            "mcp-session-id"
        ]
    slow = [asyncio.create_task(slow_connection(port, figures, stop)) for _ in range(args.slow)]
    started = time.monotonic()
    await flood_sessions(url, tokens["attacker"], args.sessions + args.extra, figures)
    flood_s = time.monotonic() - started
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), max(0.0, args.duration - flood_s))
    stop.set()
    session = await normal
    await asyncio.gather(*slow, sampler)
    async with httpx.AsyncClient(timeout=30) as http:
        ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
        survived = {
            name: (await http.post(url, json=ping, headers=headers(tokens["normal"], s))).status_code == 200
            for name, s in (("normal", session), ("quiet", quiet))
        }
        health = (await http.get(f"http://127.0.0.1:{port}/healthz")).json()
    return figures, {
        "baseline_rss_mb": baseline,
        "flood_s": flood_s,
        "sessions_survived": survived,
        "health": health,
    }


# ---------------------------------------------------------------- the run


def report(
    args: argparse.Namespace, settings: dict[str, str], figures: Figures, outcome: dict[str, Any]
) -> dict[str, Any]:
    latency = sorted(figures.normal_latency_ms) or [0.0]
    return {
        "machine": machine(),
        "settings": settings,
        "sessions": {
            "sent": args.sessions + args.extra,
            "created": figures.sessions_created,
            "refused_503": figures.sessions_refused_503,
            "other": figures.sessions_other,
            "seconds": round(outcome["flood_s"], 1),
        },
        "slow": {
            "concurrent": args.slow,
            "open_peak": figures.slow_open_peak,
            "opened": figures.slow_opened,
            "closed_by_gateway": figures.slow_closed_by_gateway,
        },
        "normal": {
            "calls_ok": figures.normal_ok,
            "calls_failed": len(figures.normal_failed),
            "first_failures": figures.normal_failed[:5],
            "p50_ms": round(statistics.median(latency), 1),
            "p99_ms": round(latency[int(len(latency) * 0.99) - 1 if len(latency) > 1 else 0], 1),
            "max_ms": round(latency[-1], 1),
            "sessions_survived": outcome["sessions_survived"],
        },
        "rss_mb": {
            "baseline": round(outcome["baseline_rss_mb"], 1),
            "peak": round(max(figures.rss_mb, default=0.0), 1),
            "end": round(figures.rss_mb[-1] if figures.rss_mb else 0.0, 1),
            "bound": args.rss_bound_mb,
        },
        "audit": outcome["health"].get("audit"),
    }


def render(r: dict[str, Any]) -> str:
    m, s, slow, n, rss = r["machine"], r["sessions"], r["slow"], r["normal"], r["rss_mb"]
    return "\n".join(
        [
            f"exhaustion soak {m['date']}: {m['cpu']}, {m['cores']} cores, {m['memory_mb']} MB, "
            f"Python {m['python']}, Linux {m['kernel']}, load average {m['loadavg_at_start']:.2f} at start",
            f"settings: {' '.join(f'{k}={v}' for k, v in r['settings'].items())}",
            f"sessions: {s['sent']} initialize with 16 KiB clientInfo in {s['seconds']} s: "
            f"{s['created']} created, {s['refused_503']} refused 503, other {s['other'] or 'none'}",
            f"slow:     {slow['concurrent']} slowloris connections (peak {slow['open_peak']} open), "
            f"{slow['opened']} opened, {slow['closed_by_gateway']} closed by the gateway",
            f"normal:   {n['calls_ok']} calls ok, {n['calls_failed']} failed; p50 {n['p50_ms']} ms, "
            f"p99 {n['p99_ms']} ms, max {n['max_ms']} ms; sessions survived: {n['sessions_survived']}",
            f"RSS:      baseline {rss['baseline']} MB, peak {rss['peak']} MB, end {rss['end']} MB "
            f"(bound {rss['bound']} MB)",
            f"audit:    {r['audit']}",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=10_000, help="sessions the gateway may hold")
    parser.add_argument("--extra", type=int, default=100, help="initialize requests sent past the cap")
    parser.add_argument("--slow", type=int, default=1000, help="slow connections held open")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds the run lasts at least")
    parser.add_argument("--read-timeout", type=float, default=10.0, help="LOCKGATE_REQUEST_READ_TIMEOUT")
    parser.add_argument("--rss-bound-mb", type=float, default=400.0, help="peak RSS that fails the run")
    parser.add_argument("--out", type=Path, help="also write the report as JSON here")
    args = parser.parse_args()
    settings = {
        "LOCKGATE_MAX_SESSIONS": str(args.sessions),
        "LOCKGATE_MAX_SESSIONS_PER_CONNECTION": str(args.sessions),  # one token may try to take them all
        "LOCKGATE_REQUEST_READ_TIMEOUT": str(args.read_timeout),
        "LOCKGATE_LOG_LEVEL": "warning",
    }
    with tempfile.TemporaryDirectory(prefix="lockgate-soak-") as tmp:
        workdir = Path(tmp)
        upstream_port = free_port()
        env, tokens = prepare_gateway(
            upstream_port,
            workdir,
            declaration=GATEWAY_YAML,
            gateway="soak",
            hosts=("normal", "attacker"),
            environment={"PYTHONPATH": str(ROOT / "src"), **settings},
        )
        with (
            upstream("bench.fast_upstream", upstream_port, workdir),
            serving(env, workdir / "lockgate.log") as (port, pid),
        ):
            figures, outcome = asyncio.run(soak(port, pid, tokens, args))
    result = report(args, settings, figures, outcome)
    print(render(result))
    if args.out is not None:
        args.out.write_text(json.dumps(result, indent=2))
    failed = (
        figures.normal_failed
        or not all(outcome["sessions_survived"].values())
        or result["rss_mb"]["peak"] > args.rss_bound_mb
    )
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

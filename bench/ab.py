"""A/B rounds for the benchmarks that compare configurations of the gateway in one run.

Each configuration x era is measured ``rounds`` times with ``bench.run.measure`` (1 connection, then 32),
the order of the configurations reversed every other round (ABBA), so neither always runs second and
both see the same machine weather. ``summarize`` gives, per era, the mean calls/s at 32 connections and
the gateway's CPU ms per call, and each configuration's ratio to the first (the baseline).
"""

import argparse
import contextlib
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench.run import (
    CONNECTIONS,
    DATABASES,
    ECHO_TEXT,
    ERAS,
    T0,
    database,
    machine,
    measure,
    open_endpoint,
    write_report,
    wrk_version,
)

Paths = dict[str, tuple[str, dict[str, str], dict[str, int]]]
"""Per configuration: (MCP URL, auth header, pids of the processes whose CPU time is counted)."""


def measure_rounds(
    paths: Paths,
    configs: Sequence[str],
    label: str,
    args: argparse.Namespace,
    workdir: Path,
    text: str = ECHO_TEXT,
) -> list[dict[str, Any]]:
    """Rows of ``{"round", "era", label: config, "c1", "c32"}``, every configuration x era, ABBA."""
    rows = []
    for number in range(args.rounds):
        for era in ERAS:
            for config in configs if number % 2 == 0 else reversed(configs):
                url, auth, pids = paths[config]
                print(
                    f"  {time.monotonic() - T0:5.1f}s round {number + 1} {era} {config}",
                    file=sys.stderr,
                    flush=True,
                )
                result = measure(
                    open_endpoint(url, era, auth), pids, args.warmup, args.seconds, workdir, text=text
                )
                rows.append({"round": number + 1, "era": era, label: config, **result})
    return rows


def summarize(rows: list[dict[str, Any]], configs: Sequence[str], label: str) -> list[dict[str, Any]]:
    """Per era, over the rounds: mean calls/s at 32 connections, mean gateway CPU ms per call, median
    p50 ms at 1 connection, and each configuration's ratio to ``configs[0]`` (calls/s and CPU)."""
    out = []
    base = configs[0]
    for era in ERAS:
        figures: dict[str, dict[str, float]] = {
            "calls_per_s": {},
            "gateway_cpu_ms_per_call": {},
            "c1_p50_ms": {},
        }
        for config in configs:
            runs = [r for r in rows if r["era"] == era and r[label] == config]
            loaded = [r[f"c{CONNECTIONS}"] for r in runs]
            figures["calls_per_s"][config] = statistics.mean(c["calls_per_s"] for c in loaded)
            figures["gateway_cpu_ms_per_call"][config] = statistics.mean(
                c["cpu_ms_per_call"]["gateway"] for c in loaded
            )
            figures["c1_p50_ms"][config] = statistics.median(r["c1"]["p50_ms"] for r in runs)
        ratio = {c: round(figures["calls_per_s"][c] / figures["calls_per_s"][base], 3) for c in configs[1:]}
        cpu_ratio = {
            c: round(figures["gateway_cpu_ms_per_call"][c] / figures["gateway_cpu_ms_per_call"][base], 3)
            for c in configs[1:]
        }
        out.append({"era": era, **figures, "ratio": ratio, "cpu_ratio": cpu_ratio})
    return out


def parser(description: str, name: str) -> argparse.ArgumentParser:
    """The options every A/B benchmark takes; ``name`` names its report."""
    options = argparse.ArgumentParser(description=description)
    options.add_argument(
        "--quick", action="store_true", help="a smoke run: --duration 2, 1 s warm-up, 1 round"
    )
    options.add_argument(
        "--duration", type=int, help="seconds of each 32-connection run, half at 1 (default 8)"
    )
    options.add_argument("--rounds", type=int, help="times each configuration x era is measured (default 2)")
    options.add_argument(
        "--database", choices=DATABASES, default="sqlite", help="the gateways' store (default sqlite)"
    )
    options.add_argument(
        "--out", type=Path, help=f"JSON report (default bench/results/{name}-<timestamp>.json)"
    )
    return options


Run = Callable[[argparse.Namespace, Path, dict[str, dict[str, str]]], dict[str, Any]]
"""Sets the gateways up in a work directory, each configuration on its database, and measures."""


def run_benchmark(
    args: argparse.Namespace,
    name: str,
    configs: Sequence[str],
    run: Run,
    render: Callable[[dict[str, Any]], str],
) -> None:
    """Run an A/B benchmark as ``args`` ask (wrk needed), each configuration on a fresh database of its
    own; write the JSON report with the machine it ran on and print ``render``'s figures."""
    if not shutil.which("wrk"):
        sys.exit("wrk not found: apt-get install wrk")
    args.seconds = args.duration or (2 if args.quick else 8)
    args.warmup = 1 if args.quick else 2
    args.rounds = args.rounds or (1 if args.quick else 2)
    report: dict[str, Any] = {
        "machine": machine(wrk=wrk_version(), database=args.database),
        "seconds": args.seconds,
        "warmup": args.warmup,
        "rounds": args.rounds,
    }
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f"lockgate-{name}-") as tmp, contextlib.ExitStack() as stack:
        environment = {config: stack.enter_context(database(args.database)) for config in configs}
        report.update(run(args, Path(tmp), environment))
    report["loadavg_at_end"] = os.getloadavg()[0]
    report["wall_s"] = round(time.monotonic() - started, 1)
    out = write_report(report, args.out, f"{name}-")
    print(render(report))
    print(f"\n{report['wall_s']} s; written to {os.path.relpath(out)}")

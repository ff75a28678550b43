"""The gateway rules benchmark: tools/call through a gateway with no rules against one with ten regex
rules on both legs, same upstream, same run (issue 12: at 32 connections the rules keep at least 0.7
of the calls/s).

Two gateways, each in its own data dir and ``lockgate serve``, front the fast upstream. One has no
rules; the other ten regex rules, each on the request and the response leg: the ready-made patterns
(US SSN, email) and eight patterns of the usual secret shapes, with actions that transform (redact,
mask, hash, replace), so every call is scanned twice by all ten and nothing matches the echoed text
(the call is checked). Both call ``echo`` in each era, measured with wrk as ``bench.run`` does
(1 connection, then 32) in alternating order over ``--rounds`` rounds.

    python -m bench.rules [--quick] [--duration S] [--rounds N] [--database sqlite|postgresql] [--out FILE]
"""

import argparse
import contextlib
import os
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select

from bench.run import (
    CONNECTIONS,
    DATABASES,
    ERAS,
    T0,
    database,
    free_port,
    gateway,
    machine,
    measure,
    open_endpoint,
    prepare_gateway,
    upstream,
    write_report,
    wrk_version,
)
from lockgate.domain.rules import Action, ActionKind, Hook, RegexDetection, Rule
from lockgate.settings import Settings
from lockgate.store.engine import open_engine
from lockgate.store.rules import dump_rule, hash_key
from lockgate.store.schema import gateways
from lockgate.store.schema import rules as rules_table

CONFIGS = ("none", "ten")
TARGET_RATIO = 0.7
PATTERNS = (
    "/AKIA[0-9A-Z]{16}/",
    "/gh[pousr]_[A-Za-z0-9]{36}/",
    "/xox[baprs]-[A-Za-z0-9-]{10,48}/",
    "/sk_live_[0-9a-zA-Z]{24}/",
    "/sk-[A-Za-z0-9]{32,}/",
    "/AIza[0-9A-Za-z_-]{35}/",
    "/-----BEGIN [A-Z ]*PRIVATE KEY-----/",
    "/eyJ[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+/",
)
ACTIONS = (ActionKind.REDACT, ActionKind.MASK, ActionKind.HASH, ActionKind.REPLACE)


def ten_rules() -> list[Rule]:
    """Ten regex rules on both legs: two ready-made patterns, eight secret shapes."""
    detections = [RegexDetection(presets=("us_ssn",)), RegexDetection(presets=("email",))]
    detections += [RegexDetection(patterns=(pattern,)) for pattern in PATTERNS]
    return [
        Rule(0, f"rule {n}", n, detection, Action(ACTIONS[n % len(ACTIONS)]), hook=Hook.BOTH)
        for n, detection in enumerate(detections, start=1)
    ]


def add_rules(env: dict[str, str], gateway_name: str, rules: list[Rule]) -> None:
    """Save ``rules`` on ``gateway_name`` in the database of the data dir ``env`` points at, with the
    gateway's hash key, as the control plane would; run before ``lockgate serve``."""
    settings = Settings(
        data_dir=Path(env["LOCKGATE_DATA_DIR"]), database_url=env.get("LOCKGATE_DATABASE_URL")
    )
    engine = open_engine(settings.resolved_database_url)
    now = time.time()
    try:
        with engine.begin() as db:
            target = db.execute(select(gateways.c.id).where(gateways.c.name == gateway_name)).scalar_one()
            hash_key(db, settings.vault(), target, create=True)
            rows = [
                dump_rule(r) | {"gateway_id": target, "created_at": now, "updated_at": now} for r in rules
            ]
            db.execute(insert(rules_table), rows)
    finally:
        engine.dispose()


def measure_rounds(
    paths: dict[str, tuple[str, dict[str, str], dict[str, int]]], args: argparse.Namespace, workdir: Path
) -> list[dict[str, Any]]:
    """Each configuration x era, ``args.rounds`` times, the order reversed every other round (ABBA)."""
    rows = []
    for number in range(args.rounds):
        for era in ERAS:
            for config in CONFIGS if number % 2 == 0 else reversed(CONFIGS):
                url, auth, pids = paths[config]
                print(f"  {time.monotonic() - T0:5.1f}s round {number + 1} {era} {config}", file=sys.stderr)
                result = measure(open_endpoint(url, era, auth), pids, args.warmup, args.seconds, workdir)
                rows.append({"round": number + 1, "era": era, "rules": config, **result})
    return rows


def summarize(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per era: mean calls/s and gateway CPU ms per call at 32 connections, and ten / none."""
    out = []
    for era in ERAS:
        calls, cpu = {}, {}
        for config in CONFIGS:
            runs = [r[f"c{CONNECTIONS}"] for r in rows if r["era"] == era and r["rules"] == config]
            calls[config] = statistics.mean(c["calls_per_s"] for c in runs)
            cpu[config] = statistics.mean(c["cpu_ms_per_call"]["gateway"] for c in runs)
        p50 = {
            config: statistics.mean(
                r["c1"]["p50_ms"] for r in rows if r["era"] == era and r["rules"] == config
            )
            for config in CONFIGS
        }
        out.append(
            {
                "era": era,
                "calls_per_s": calls,
                "gateway_cpu_ms_per_call": cpu,
                "c1_p50_ms": p50,
                "ratio": round(calls["ten"] / calls["none"], 3),
                "added_p50_ms": round(p50["ten"] - p50["none"], 3),
            }
        )
    return out


def run(
    args: argparse.Namespace, workdir: Path, environment: dict[str, dict[str, str]]
) -> list[dict[str, Any]]:
    port = free_port()
    with ThreadPoolExecutor() as pool:  # the lockgate CLI takes seconds per command
        prepared = {
            c: pool.submit(prepare_gateway, port, workdir, environment=environment[c]) for c in CONFIGS
        }
    envs = {config: future.result() for config, future in prepared.items()}
    add_rules(envs["ten"][0], "bench", ten_rules())
    with (
        upstream("bench.fast_upstream", port, workdir) as (_url, upstream_pid),
        contextlib.ExitStack() as stack,
    ):
        paths = {}
        for config, (env, tokens) in envs.items():
            log = workdir / f"lockgate-rules-{config}.log"
            gateway_url, auth, pid = stack.enter_context(gateway(env, tokens["bench"], log))
            paths[config] = (gateway_url, auth, {"gateway": pid, "upstream": upstream_pid})
        return measure_rounds(paths, args, workdir)


def render(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = [
        f"rules benchmark {m['date']}: {m['cpu']}, {m['cores']} cores, Python {m['python']}, {m['wrk']}, "
        f"gateway on {m['database']}",
        f"wrk: {report['seconds']} s at 32 connections, half at 1, after {report['warmup']} s of warm-up, "
        f"{report['rounds']} round(s); load average {m['loadavg_at_start']:.2f} at start, "
        f"{report['loadavg_at_end']:.2f} at end",
        "none: no rules; ten: ten regex rules on both legs (2 ready-made, 8 secret shapes), none matching",
        "",
        f"{'round':5} {'era':7} {'rules':5} {'1c p50 ms':>9} | {'calls/s':>8} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'non-2xx':>7} {'gw CPU ms':>9}",
    ]
    for r in report["rows"]:
        c1, c32 = r["c1"], r[f"c{CONNECTIONS}"]
        lines.append(
            f"{r['round']:<5} {r['era']:7} {r['rules']:5} {c1['p50_ms']:>9.2f} | {c32['calls_per_s']:>8.0f} "
            f"{c32['p50_ms']:>7.2f} {c32['p99_ms']:>7.2f} {c1['non_2xx'] + c32['non_2xx']:>7} "
            f"{c32['cpu_ms_per_call']['gateway']:>9.3f}"
        )
    lines.append("")
    for s in report["summary"]:
        verdict = "meets" if s["ratio"] >= TARGET_RATIO else "BELOW"
        calls, cpu = s["calls_per_s"], s["gateway_cpu_ms_per_call"]
        lines.append(
            f"{s['era']:7} calls/s at 32 connections: none {calls['none']:.0f}, ten {calls['ten']:.0f}, "
            f"ratio {s['ratio']:.3f} ({verdict} {TARGET_RATIO}); gateway CPU ms per call "
            f"{cpu['none']:.3f} and {cpu['ten']:.3f}; 1-connection p50 +{s['added_p50_ms']:.3f} ms"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run: --duration 2, 1 s warm-up, 1 round"
    )
    parser.add_argument(
        "--duration", type=int, help="seconds of each 32-connection run, half at 1 (default 8)"
    )
    parser.add_argument("--rounds", type=int, help="times each configuration x era is measured (default 2)")
    parser.add_argument("--database", choices=DATABASES, default="sqlite", help="the gateways' store")
    parser.add_argument("--out", type=Path, help="JSON report (default bench/results/rules-<timestamp>.json)")
    args = parser.parse_args()
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
    with tempfile.TemporaryDirectory(prefix="lockgate-rules-") as tmp, contextlib.ExitStack() as stack:
        environment = {config: stack.enter_context(database(args.database)) for config in CONFIGS}
        report["rows"] = run(args, Path(tmp), environment)
    report["summary"] = summarize(report["rows"])
    report["loadavg_at_end"] = os.getloadavg()[0]
    report["wall_s"] = round(time.monotonic() - started, 1)
    out = write_report(report, args.out, "rules-")
    print(render(report))
    print(f"\n{report['wall_s']} s; written to {os.path.relpath(out)}")


if __name__ == "__main__":
    main()

"""The gateway rules benchmark: no rules, ten regex rules, one Presidio rule; both legs, same run.

tools/call through three gateways in front of the same upstream, in one run (issue 12).

Three gateways, each in its own data dir and ``lockgate serve``, front the fast upstream. ``regex10``
has ten rules of the kinds a security team writes first (SSNs, cards, cloud and SaaS keys, private
keys, JWTs, connection strings), each on both legs with ``redact``; ``presidio`` has one Presidio rule
(every entity the blank pipeline finds, threshold 0.2) on both legs with ``replace``. Echo is called
with a realistic ~1 KiB text holding no secret, so every rule scans the arguments and the result and
lets them through unchanged (the common case), measured with wrk as ``bench.run`` does (1 connection,
then 32), configurations in ABBA order over ``--rounds`` rounds.

    python -m bench.rules [--quick] [--duration S] [--rounds N] [--database sqlite|postgresql] [--out FILE]

Reported: calls/s at 32 connections and each configuration's ratio to ``none`` (target for
``regex10``: ≥ 0.7), and the p50 at 1 connection each configuration adds to ``none`` (Presidio's added
p50 per call).
"""

import argparse
import contextlib
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select

from bench.ab import Paths, measure_rounds, parser, run_benchmark, summarize
from bench.run import (
    free_port,
    gateway,
    prepare_gateway,
    upstream,
)
from lockgate.domain.rules import (
    Action,
    ActionKind,
    FailureMode,
    Hook,
    PresidioDetection,
    RegexDetection,
    Rule,
)
from lockgate.settings import Settings
from lockgate.store.engine import open_engine
from lockgate.store.rules import dump_rule, hash_key
from lockgate.store.schema import gateways, rules

NONE, REGEX, PRESIDIO = "none", "regex10", "presidio"
CONFIGS = (NONE, REGEX, PRESIDIO)
TARGET_RATIO = 0.7  # issue 12: 10 regex rules on both legs keep at least 0.7 of no rules' calls/s at 32
PATTERNS = {
    "ssn": r"\b\d{3}-\d{2}-\d{4}\b",
    "card": r"\b(?:\d[ -]?){13,19}\b",
    "aws key": r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b",
    "github token": r"\b(?:gh[pousr]_[A-Za-z0-9]{36}|github_pat_\w{82})\b",
    "slack token": r"\bxox[abprs]-[A-Za-z0-9-]{10,}\b",
    "stripe key": r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}\b",
    "google key": r"\bAIza[0-9A-Za-z_-]{35}\b",
    "private key": r"-----BEGIN [A-Z ]*PRIVATE KEY-----",
    "jwt": r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+",
    "connection string": r"/\b(?:postgres(?:ql)?|mysql|mongodb(?:\+srv)?|redis|amqp):\/\/"
    r"[^\s:@\/]+:[^\s@\/]+@/i",
}
TEXT = (
    "Quarterly review notes. The deployment pipeline for the billing service moved to the new cluster "
    "last week; latency at the 99th percentile fell from 240 ms to 180 ms after the connection pool was "
    "resized. Open items: rotate the on-call schedule, archive the old dashboards, and write the "
    "post-incident review for the queue backlog of the 14th (root cause: a consumer stuck on a poison "
    "message; fixed by a dead-letter queue with three retries). Next steps for the search team: reindex "
    "the catalogue overnight, compare relevance against last quarter's baseline, and publish the results "
    "in the engineering channel. Budget: within plan; two contractors extended to the end of the quarter. "
    "Risks: the vendor's API deprecates version 2 in the spring, so the integration must move to version 3 "
    "before then; the migration guide is linked from the project page. Action owners confirmed in the "
    "meeting; the next review is in four weeks."
)


def regex_rules() -> list[Rule]:
    return [
        Rule(0, name, position, RegexDetection((pattern,)), Action(ActionKind.REDACT), hook=Hook.BOTH)
        for position, (name, pattern) in enumerate(PATTERNS.items())
    ]


def presidio_rules() -> list[Rule]:
    detection = PresidioDetection(threshold=0.2)
    action = Action(ActionKind.REPLACE)
    return [Rule(0, "pii", 0, detection, action, hook=Hook.BOTH, failure_mode=FailureMode.CLOSED)]


def add_rules(env: dict[str, str], gateway_name: str, added: list[Rule]) -> None:
    """Write ``added`` as ``gateway_name``'s rules (and its hash key) into the database of the data dir
    ``env`` points at. A harness may write the rows straight into the gateway's database: this runs after
    ``lockgate apply`` and before ``lockgate serve``, so the gateway reads them on its first request as it
    would after any admin surface wrote them."""
    settings = Settings(
        data_dir=Path(env["LOCKGATE_DATA_DIR"]), database_url=env.get("LOCKGATE_DATABASE_URL")
    )
    engine = open_engine(settings.resolved_database_url)
    vault = settings.vault()
    now = time.time()
    try:
        with engine.begin() as db:
            gateway_id = db.execute(select(gateways.c.id).where(gateways.c.name == gateway_name)).scalar_one()
            for rule in added:
                db.execute(
                    insert(rules).values(
                        gateway_id=gateway_id, created_at=now, updated_at=now, **dump_rule(rule)
                    )
                )
            hash_key(db, vault, gateway_id, create=True)
    finally:
        engine.dispose()


def run(args: argparse.Namespace, workdir: Path, environment: dict[str, dict[str, str]]) -> dict[str, Any]:
    """Sets up the three gateways and measures: the report's ``rows`` and ``summary``."""
    port = free_port()
    with ThreadPoolExecutor() as pool:  # the lockgate CLI takes seconds per command
        prepared = {
            config: pool.submit(prepare_gateway, port, workdir, environment=environment[config])
            for config in CONFIGS
        }
    envs = {config: future.result() for config, future in prepared.items()}
    add_rules(envs[REGEX][0], "bench", regex_rules())
    add_rules(envs[PRESIDIO][0], "bench", presidio_rules())
    with (
        upstream("bench.fast_upstream", port, workdir) as (_url, upstream_pid),
        contextlib.ExitStack() as stack,
    ):
        paths: Paths = {}
        for config, (env, tokens) in envs.items():
            url, auth, pid = stack.enter_context(
                gateway(env, tokens["bench"], workdir / f"lockgate-{config}.log")
            )
            paths[config] = (url, auth, {"gateway": pid, "upstream": upstream_pid})
        rows = measure_rounds(paths, CONFIGS, "rules", args, workdir, text=TEXT)
    return {"rows": rows, "summary": summarize(rows, CONFIGS, "rules")}


def render(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = [
        f"rules benchmark {m['date']}: {m['cpu']}, {m['cores']} cores, Python {m['python']}, {m['wrk']}, "
        f"gateway on {m['database']}",
        f"wrk: {report['seconds']} s at 32 connections, half at 1, after {report['warmup']} s of warm-up, "
        f"{report['rounds']} round(s); load average {m['loadavg_at_start']:.2f} at start, "
        f"{report['loadavg_at_end']:.2f} at end",
        f"echo called with {len(TEXT)} characters holding no secret; {REGEX}: {len(PATTERNS)} regex rules "
        f"on both legs (redact); {PRESIDIO}: one Presidio rule on both legs (replace)",
        "",
        f"{'round':5} {'era':7} {'rules':9} {'1c p50 ms':>9} | {'calls/s':>8} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'non-2xx':>7} {'gw CPU ms':>9}",
    ]
    for r in report["rows"]:
        c1, c32 = r["c1"], r["c32"]
        lines.append(
            f"{r['round']:<5} {r['era']:7} {r['rules']:9} {c1['p50_ms']:>9.2f} | {c32['calls_per_s']:>8.0f} "
            f"{c32['p50_ms']:>7.2f} {c32['p99_ms']:>7.2f} {c1['non_2xx'] + c32['non_2xx']:>7} "
            f"{c32['cpu_ms_per_call']['gateway']:>9.3f}"
        )
    lines.append("")
    for s in report["summary"]:
        means, p50 = s["calls_per_s"], s["c1_p50_ms"]
        verdict = "meets" if s["ratio"][REGEX] >= TARGET_RATIO else "BELOW"
        lines.append(
            f"{s['era']:7} calls/s at 32 connections: none {means[NONE]:.0f}, {REGEX} {means[REGEX]:.0f} "
            f"(ratio {s['ratio'][REGEX]:.3f}, {verdict} {TARGET_RATIO}), {PRESIDIO} {means[PRESIDIO]:.0f} "
            f"(ratio {s['ratio'][PRESIDIO]:.3f}); added p50 at 1 connection: {REGEX} "
            f"{p50[REGEX] - p50[NONE]:+.2f} ms, {PRESIDIO} {p50[PRESIDIO] - p50[NONE]:+.2f} ms"
        )
    return "\n".join(lines)


def main() -> None:
    args = parser(__doc__.splitlines()[0], "rules").parse_args()
    run_benchmark(args, "rules", CONFIGS, run, render)


if __name__ == "__main__":
    main()

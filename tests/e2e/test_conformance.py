"""The official MCP conformance suites pass through Lockgate wherever they pass against the server directly.

Each test starts our fixture server twice (one reached directly, one behind the gateway), a gateway in a
fresh data dir, and an auth shim (the suite cannot send a bearer token), then runs one suite against both
and compares per scenario. Needs Node 22 and the suites from `npm ci` (node_modules/).
"""

from pathlib import Path

import pytest

from tests.conformance.run import compare_suite
from tests.conformance.suites import NODE, SUITES, Suite

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(900),
    pytest.mark.skipif(not NODE.exists(), reason="Node 22 from `npm ci` is not installed"),
]


def assert_no_regression(suite: Suite, workdir: Path) -> None:
    comparison = compare_suite(suite, workdir)
    print(comparison.table())
    if comparison.regressions():
        pytest.fail(f"{comparison.describe_regressions()}\n(logs and results under {workdir})", pytrace=False)


def suite(name: str) -> Suite:
    return next(suite for suite in SUITES if suite.name == name)


def test_every_scenario_the_fixture_passes_directly_also_passes_through_the_gateway_on_the_stable_suite(
    tmp_path: Path,
) -> None:
    assert_no_regression(suite("stable"), tmp_path)


def test_every_scenario_the_fixture_passes_directly_also_passes_through_the_gateway_on_2025_11_25(
    tmp_path: Path,
) -> None:
    assert_no_regression(suite("2025-11-25"), tmp_path)


def test_every_scenario_the_fixture_passes_directly_also_passes_through_the_gateway_on_2026_07_28(
    tmp_path: Path,
) -> None:
    assert_no_regression(suite("2026-07-28"), tmp_path)

"""The official MCP conformance suites pass through Lockgate, check by check, wherever they pass directly.

Each test starts one server twice (one instance reached directly, one behind the gateway), a gateway in a
fresh data dir, and an auth shim (the suite cannot send a bearer token), then runs one suite against both
and compares per check. The servers are our fixture and servers written by others (tests/conformance/
servers.py). Needs Node 22 and the suites from `npm ci` (node_modules/).
"""

from pathlib import Path

import pytest

from tests.conformance.run import compare_suite
from tests.conformance.servers import SERVERS, Server
from tests.conformance.suites import NODE, SUITES, Suite

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(900),
    pytest.mark.skipif(not NODE.exists(), reason="Node 22 from `npm ci` is not installed"),
]


@pytest.mark.parametrize("suite", SUITES, ids=lambda suite: suite.name)
@pytest.mark.parametrize("server", SERVERS, ids=lambda server: server.name)
def test_every_check_that_succeeds_directly_also_succeeds_through_the_gateway(
    server: Server, suite: Suite, tmp_path: Path
) -> None:
    comparison = compare_suite(server, suite, tmp_path)
    print(comparison.table())
    if comparison.regressions():
        pytest.fail(
            f"{comparison.describe_regressions()}\n(logs and results under {tmp_path})", pytrace=False
        )

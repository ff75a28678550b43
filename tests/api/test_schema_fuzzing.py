"""schemathesis against the served OpenAPI document: no 5xx, and every answer matches the schema."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import (
    Api,
    RunningGateway,
    lockgate_on_a_socket,  # noqa: F401 - schemathesis runs in a process of its own
)

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
MIN_CASES = 1000


@pytest.mark.e2e
@pytest.mark.timeout(600)
def test_a_thousand_generated_requests_find_no_server_error_and_no_schema_violation(
    lockgate: RunningGateway, admin: Api, tmp_path: Path
) -> None:
    # positive_data_acceptance is left out: a schema-valid request may rightly be refused for what a
    # schema cannot state (a stale If-Match is 412, a cursor this server never issued is 400, a
    # stdio server needs a command). Every other check runs, stateful links included.
    result = subprocess.run(
        [
            str(SCHEMATHESIS),
            "run",
            f"{lockgate.api_url}/openapi.json",
            "--header",
            f"Authorization: Bearer {admin.token}",
            "--checks",
            "all",
            "--exclude-checks",
            "positive_data_acceptance",
            # Previewing a server starts it: a generated stdio server would run a generated command.
            "--exclude-operation-id",
            "servers_features",
            # Testing a rule engine posts to its URL: a generated engine would be sent requests.
            "--exclude-operation-id",
            "engines_test",
            "--phases",
            "examples,coverage,fuzzing,stateful",
            "--max-examples",
            "10",
            "--workers",
            "1",  # two workers once tripped CPython 3.11's "AST constructor recursion depth mismatch"
            "--seed",
            "20261121",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=540,
    )
    report = result.stdout + result.stderr
    generated = re.search(r"(\d+) generated", report)
    assert generated is not None, report
    assert int(generated.group(1)) >= MIN_CASES, report[-3000:]
    assert result.returncode == 0, report[-6000:]

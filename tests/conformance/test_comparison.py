"""The per-check comparison of a suite run directly and through the gateway."""

from tests.conformance.comparison import Comparison, Regression
from tests.conformance.suites import Check, ScenarioResult, SuiteRun


def run(**scenarios: list[Check]) -> SuiteRun:
    return SuiteRun(
        {name.replace("_", "-"): ScenarioResult(checks) for name, checks in scenarios.items()}, 1.0, 0, ""
    )


def compare(direct: SuiteRun, gateway: SuiteRun) -> Comparison:
    return Comparison("2025-11-25", "everything", direct, gateway)


PASSING_REBINDING = [Check("localhost-host-rebinding-rejected", "SUCCESS")]


def test_a_check_that_succeeds_on_both_sides_is_no_regression() -> None:
    side = run(ping=[Check("ping", "SUCCESS")], dns_rebinding_protection=PASSING_REBINDING)

    assert compare(side, side).regressions() == []


def test_a_check_that_succeeds_directly_and_warns_through_the_gateway_regresses_with_its_message() -> None:
    direct = run(
        ping=[Check("ping", "SUCCESS"), Check("info", "INFO")], dns_rebinding_protection=PASSING_REBINDING
    )
    gateway = run(
        ping=[Check("ping", "WARNING", "slow"), Check("info", "INFO")],
        dns_rebinding_protection=PASSING_REBINDING,
    )

    assert compare(direct, gateway).regressions() == [
        Regression("ping", "ping", "SUCCESS", "WARNING", "slow")
    ]


def test_a_check_missing_through_the_gateway_regresses_even_when_its_scenario_passes() -> None:
    direct = run(
        ping=[Check("ping", "SUCCESS"), Check("extra", "SUCCESS")], dns_rebinding_protection=PASSING_REBINDING
    )
    gateway = run(ping=[Check("ping", "SUCCESS")], dns_rebinding_protection=PASSING_REBINDING)

    assert [(r.check, r.gateway) for r in compare(direct, gateway).regressions()] == [("extra", "missing")]


def test_a_repeated_check_must_succeed_as_often_through_the_gateway() -> None:
    direct = run(
        tools=[Check("schema", "SUCCESS"), Check("schema", "SUCCESS")],
        dns_rebinding_protection=PASSING_REBINDING,
    )
    gateway = run(
        tools=[Check("schema", "SUCCESS"), Check("schema", "FAILURE", "lost $defs")],
        dns_rebinding_protection=PASSING_REBINDING,
    )

    regression = compare(direct, gateway).regressions()[0]

    assert (regression.direct, regression.gateway, regression.message) == (
        "SUCCESS×2",
        "SUCCESS,FAILURE",
        "lost $defs",
    )


def test_a_check_that_fails_directly_may_fail_through_the_gateway() -> None:
    side = run(ping=[Check("ping", "FAILURE", "no tool")], dns_rebinding_protection=PASSING_REBINDING)

    assert compare(side, side).regressions() == []


def test_dns_rebinding_protection_must_pass_through_the_gateway_even_when_the_server_fails_it() -> None:
    direct = run(
        dns_rebinding_protection=[Check("localhost-host-rebinding-rejected", "FAILURE", "accepted evil")]
    )
    gateway = run(
        dns_rebinding_protection=[Check("localhost-host-rebinding-rejected", "WARNING", "accepted evil")]
    )

    assert [r.check for r in compare(direct, gateway).regressions()] == ["localhost-host-rebinding-rejected"]
    assert [r.scenario for r in compare(direct, run()).regressions()] == ["dns-rebinding-protection"]


def test_an_allowed_check_passes_only_with_the_status_its_allowance_names() -> None:
    direct = run(
        server_sse_polling=[Check("server-sse-disconnect-resume", "SUCCESS")],
        dns_rebinding_protection=PASSING_REBINDING,
    )
    as_info = run(
        server_sse_polling=[Check("server-sse-disconnect-resume", "INFO")],
        dns_rebinding_protection=PASSING_REBINDING,
    )
    as_failure = run(
        server_sse_polling=[Check("server-sse-disconnect-resume", "FAILURE", "lost")],
        dns_rebinding_protection=PASSING_REBINDING,
    )

    assert compare(direct, as_info).regressions() == []
    assert [r.check for r in compare(direct, as_info).allowed()] == ["server-sse-disconnect-resume"]
    assert [r.gateway for r in compare(direct, as_failure).regressions()] == ["FAILURE"]


def test_the_table_marks_regressed_and_allowed_checks() -> None:
    direct = run(
        ping=[Check("ping", "SUCCESS")],
        server_sse_polling=[Check("server-sse-disconnect-resume", "SUCCESS")],
        dns_rebinding_protection=PASSING_REBINDING,
    )
    gateway = run(
        ping=[Check("ping", "FAILURE")],
        server_sse_polling=[Check("server-sse-disconnect-resume", "INFO")],
        dns_rebinding_protection=PASSING_REBINDING,
    )

    table = compare(direct, gateway).table()

    assert "1 regression(s), 1 allowed" in table
    assert "ping                      1/1       0/1       ping" in table
    assert "(server-sse-disconnect-resume: allowed)" in table

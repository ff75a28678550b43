"""Direct vs through-the-gateway results of one suite on one server, compared per check.

A check is one entry of a scenario's checks.json, keyed by (scenario, check id). Every SUCCESS a check
has directly must be a SUCCESS through the gateway: a FAILURE, a WARNING or a missing entry there is a
regression. A check id may appear several times in one scenario (once per tool, say), so the gateway
must reach at least as many SUCCESS entries for that id as the direct run did. Every check of
`dns-rebinding-protection` must succeed through the gateway whatever the server does directly: fronting a
server that does not validate Host and Origin is part of a gateway's job. `ALLOWANCES` lists the few
checks a gateway loses for a stated reason, each with the one status it may show instead.
"""

from dataclasses import asdict, dataclass
from typing import Any

from tests.conformance.suites import Check, ScenarioResult, SuiteRun

MUST_PASS_THROUGH_GATEWAY = ("dns-rebinding-protection",)

# (scenario, check id) -> (what the gateway run shows instead of SUCCESS, why that is no loss).
# Each is a check that only applies to an SSE answer, and the suite itself reports the JSON case as
# "not applicable". Nothing else is allowed: a FAILURE or WARNING on these checks is still a regression.
ALLOWANCES = {
    ("server-sse-multiple-streams", "server-sse-streams-functional"): (
        "INFO",
        "the gateway answers a POST with application/json when nothing has to go before the answer "
        "(dataplane/responder.py); MCP 2025-11-25 basic/transports lets a server answer either way, and the "
        "suite reports the JSON case as INFO 'SSE streaming is optional'",
    ),
    ("server-sse-polling", "server-sse-priming-event"): (
        "missing",
        "same JSON answer: the suite then records server-sse-content-type INFO 'priming event tests not "
        "applicable' instead of this check; a gateway SSE answer without priming would still be a WARNING",
    ),
    ("server-sse-polling", "server-sse-disconnect-resume"): (
        "INFO",
        "the server closes its stream mid-call (SEP-1699 polling); the gateway resumes that stream upstream "
        "itself with Last-Event-ID and keeps its own stream to the client open, so the client sees no close "
        "and the suite reports INFO 'server did not disconnect mid-call'",
    ),
}
EMPTY = ScenarioResult()


@dataclass(frozen=True)
class Regression:
    """A check that succeeded directly (or must succeed) and did not through the gateway."""

    scenario: str
    check: str
    direct: str
    gateway: str
    message: str

    def describe(self) -> str:
        return f"{self.scenario} / {self.check}: direct {self.direct}, gateway {self.gateway}: {self.message}"


def render_statuses(checks: list[Check]) -> str:
    """`SUCCESS`, `SUCCESS×2` or `missing` for one check id's entries, in order of appearance."""
    statuses = [check.status for check in checks]
    if not statuses:
        return "missing"
    if len(set(statuses)) == 1 and len(statuses) > 1:
        return f"{statuses[0]}×{len(statuses)}"
    return ",".join(statuses)


def resolve_check_regressions(
    scenario: str, direct: ScenarioResult, through: ScenarioResult
) -> list[Regression]:
    """Per check id: fewer SUCCESS entries through the gateway than directly is a regression."""
    regressions = []
    for check_id in dict.fromkeys(check.id for check in direct.checks):
        if through.successes(check_id) >= direct.successes(check_id):
            continue
        gateway_checks = [check for check in through.checks if check.id == check_id]
        message = next((c.message for c in gateway_checks if c.status != "SUCCESS"), "no such check ran")
        direct_checks = [check for check in direct.checks if check.id == check_id]
        regressions.append(
            Regression(
                scenario, check_id, render_statuses(direct_checks), render_statuses(gateway_checks), message
            )
        )
    return regressions


def resolve_required_regressions(scenario: str, through: ScenarioResult) -> list[Regression]:
    """Every check of a scenario the gateway must pass on its own: anything but SUCCESS or INFO regresses."""
    return [
        Regression(scenario, check.id, "(required)", check.status, check.message)
        for check in through.checks
        if check.status not in ("SUCCESS", "INFO")
    ]


@dataclass
class Comparison:
    suite: str
    server: str
    direct: SuiteRun
    gateway: SuiteRun

    def scenario_names(self) -> list[str]:
        return list(dict.fromkeys([*self.direct.scenarios, *self.gateway.scenarios]))

    def regressions(self) -> list[Regression]:
        """Every check that succeeded directly and not through the gateway, plus the required scenarios',
        less those `ALLOWANCES` names with the very status the gateway run shows."""
        return [regression for regression in self.losses() if not is_allowed(regression)]

    def allowed(self) -> list[Regression]:
        return [regression for regression in self.losses() if is_allowed(regression)]

    def losses(self) -> list[Regression]:
        regressions = [
            Regression(name, "-", "(required)", "missing", "scenario did not run")
            for name in MUST_PASS_THROUGH_GATEWAY
            if name not in self.gateway.scenarios
        ]
        for name in self.scenario_names():
            through = self.gateway.scenarios.get(name, EMPTY)
            if name in MUST_PASS_THROUGH_GATEWAY:
                regressions += resolve_required_regressions(name, through)
            elif direct := self.direct.scenarios.get(name):
                regressions += resolve_check_regressions(name, direct, through)
        return regressions

    def successes(self, run: SuiteRun) -> int:
        return sum(check.status == "SUCCESS" for result in run.scenarios.values() for check in result.checks)

    def headline(self) -> str:
        total = sum(len(result.checks) for result in self.direct.scenarios.values())
        return (
            f"== {self.server} × {self.suite}: checks SUCCESS directly {self.successes(self.direct)}/{total} "
            f"in {self.direct.seconds:.1f}s, through the gateway {self.successes(self.gateway)} "
            f"in {self.gateway.seconds:.1f}s, {len(self.regressions())} regression(s), "
            f"{len(self.allowed())} allowed"
        )

    def table(self) -> str:
        """One row per scenario: SUCCESS / all checks on each side, and the regressed check ids."""
        names = self.scenario_names()
        regressed: dict[str, list[str]] = {}
        for regression in self.regressions():
            regressed.setdefault(regression.scenario, []).append(regression.check)
        for regression in self.allowed():
            regressed.setdefault(regression.scenario, []).append(f"({regression.check}: allowed)")
        width = max([len("scenario"), *map(len, names)])
        lines = [self.headline(), f"{'scenario':<{width}}  {'direct':<8}  {'gateway':<8}  regressed checks"]
        for name in names:
            direct = render_counts(self.direct.scenarios.get(name))
            through = render_counts(self.gateway.scenarios.get(name))
            lines.append(f"{name:<{width}}  {direct:<8}  {through:<8}  {' '.join(regressed.get(name, []))}")
        return "\n".join(lines).rstrip()

    def describe_regressions(self) -> str:
        regressions = self.regressions()
        lines = [f"{self.server} × {self.suite}: {len(regressions)} check(s) regressed through the gateway"]
        return "\n".join(lines + [f"  {regression.describe()}" for regression in regressions])

    def summary(self) -> dict[str, Any]:
        def side(run: SuiteRun) -> dict[str, Any]:
            scenarios = {
                name: [asdict(check) for check in result.checks] for name, result in run.scenarios.items()
            }
            return {"seconds": round(run.seconds, 1), "exit_code": run.exit_code, "scenarios": scenarios}

        return {
            "direct": side(self.direct),
            "gateway": side(self.gateway),
            "regressions": [asdict(regression) for regression in self.regressions()],
            "allowed": [asdict(regression) for regression in self.allowed()],
        }


def is_allowed(regression: Regression) -> bool:
    allowance = ALLOWANCES.get((regression.scenario, regression.check))
    return allowance is not None and regression.gateway == allowance[0]


def render_counts(result: ScenarioResult | None) -> str:
    """`ok/all` checks of one scenario, or `-` when it did not run."""
    if result is None:
        return "-"
    return f"{sum(check.status == 'SUCCESS' for check in result.checks)}/{len(result.checks)}"

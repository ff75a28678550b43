"""Direct vs through-the-gateway results of one suite: regressions, a printable table, a JSON summary."""

from dataclasses import asdict, dataclass
from typing import Any

from tests.conformance.suites import Failure, ScenarioResult, SuiteRun

MUST_PASS_THROUGH_GATEWAY = ("dns-rebinding-protection",)
NOT_RUN = ScenarioResult(passed=False, failures=[Failure("-", "scenario did not run")])


def render_status(result: ScenarioResult | None) -> str:
    if result is None:
        return "-"
    status = "pass" if result.passed else "FAIL"
    return f"{status} ({result.warnings} warn)" if result.warnings else status


@dataclass
class Comparison:
    suite: str
    direct: SuiteRun
    gateway: SuiteRun

    def scenario_names(self) -> list[str]:
        return list(dict.fromkeys([*self.direct.scenarios, *self.gateway.scenarios]))

    def regressions(self) -> dict[str, list[Failure]]:
        """Scenarios that pass directly (or must pass) but not through the gateway, with the failed checks."""
        regressed = {}
        for name in self.scenario_names():
            direct = self.direct.scenarios.get(name)
            through = self.gateway.scenarios.get(name, NOT_RUN)
            if (
                (direct is not None and direct.passed) or name in MUST_PASS_THROUGH_GATEWAY
            ) and not through.passed:
                regressed[name] = through.failures
        for name in MUST_PASS_THROUGH_GATEWAY:
            if name not in self.gateway.scenarios:
                regressed[name] = NOT_RUN.failures
        return regressed

    def table(self) -> str:
        names = self.scenario_names()
        width = max([len("scenario"), *map(len, names)])
        lines = [f"== {self.suite}: direct {self.direct.seconds:.1f}s, gateway {self.gateway.seconds:.1f}s"]
        lines.append(f"{'scenario':<{width}}  {'direct':<16}  gateway")
        for name in names:
            direct = render_status(self.direct.scenarios.get(name))
            through = render_status(self.gateway.scenarios.get(name))
            marker = "  <-- regression" if name in self.regressions() else ""
            lines.append(f"{name:<{width}}  {direct:<16}  {through}{marker}")
        return "\n".join(lines)

    def describe_regressions(self) -> str:
        lines = [f"{self.suite}: {len(self.regressions())} scenario(s) regressed through the gateway"]
        for name, failures in self.regressions().items():
            lines.append(f"  {name}")
            lines += [f"    {failure.check}: {failure.message}" for failure in failures]
        return "\n".join(lines)

    def summary(self) -> dict[str, Any]:
        def side(run: SuiteRun) -> dict[str, Any]:
            scenarios = {name: asdict(result) for name, result in run.scenarios.items()}
            return {"seconds": round(run.seconds, 1), "exit_code": run.exit_code, "scenarios": scenarios}

        regressions = {name: [asdict(f) for f in failures] for name, failures in self.regressions().items()}
        return {"direct": side(self.direct), "gateway": side(self.gateway), "regressions": regressions}

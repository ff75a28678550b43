"""``lockgate rules test``: run one rule over a sample message, locally, with the function the data
plane runs (``rules.evaluate.evaluate``), and show what it would do.

The rule comes from a file (``--rule-file``, YAML or JSON, as ``rules create --json @FILE`` takes
it) or from a gateway (``--gateway G --rule NAME``, fetched through the API client). It is judged
first by ``rules.validation.check_rule``, as saving it is. Engine rules are not run here: their
engine is asked by the gateway only (``lockgate engines test NAME`` asks it about a sample).
``hash`` uses a throwaway key here, so its digests differ from the gateway's.

Exit codes: 0 the message passes (changed or not), 1 the rule blocks it, 2 bad input.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated, Any, NoReturn

import anyio
import orjson
import pydantic
import typer
import yaml

from lockgate.api.table import BY_ID
from lockgate.cli.client import CallFailed
from lockgate.cli.context import load_settings, open_client
from lockgate.domain.rule_specs import RuleSpec
from lockgate.domain.rules import Direction, EngineDetection, PresidioDetection, Rule
from lockgate.rules.detect import Detector, RegexDetector
from lockgate.rules.evaluate import Compiled, Evaluation, evaluate
from lockgate.rules.presidio import PresidioDetector, offline_analyzer
from lockgate.rules.scan import TOWARD_CLIENT
from lockgate.rules.validation import RuleDefinitionError, check_rule

RuleFile = Annotated[Path | None, typer.Option("--rule-file", help="The rule, YAML or JSON.")]
Gateway = Annotated[str | None, typer.Option("--gateway", help="Fetch the rule from this gateway.")]
RuleName = Annotated[str | None, typer.Option("--rule", help="The rule's name on --gateway.")]
Message = Annotated[Path, typer.Option("--message", help="The JSON-RPC message, a JSON file.")]
LegOption = Annotated[
    Direction | None,
    typer.Option("--leg", help="request or response. Default: request when it has a method."),
]
Method = Annotated[str, typer.Option("--method", help="The call's method.")]


def test(
    ctx: typer.Context,
    message: Message,
    rule_file: RuleFile = None,
    gateway: Gateway = None,
    rule: RuleName = None,
    leg: LegOption = None,
    method: Method = "tools/call",
) -> None:
    """Run a rule over a sample message locally and show the message after it, what the rule did,
    and whether it blocked. Exit code 0: passes; 1: blocked; 2: bad input. Engine rules are not run
    locally (use 'lockgate engines test'); hash uses a throwaway key."""
    spec = _rule_spec(ctx, rule_file, gateway, rule)
    loaded = _load_message(message)
    own = loaded.get("method")  # what is scanned: a notification's own strings, a call's arguments
    scanned = own if isinstance(own, str) else method
    toward_server = isinstance(own, str) and own not in TOWARD_CLIENT
    chosen = leg or (Direction.REQUEST if toward_server else Direction.RESPONSE)
    rule_value = spec.to_rule(rule_id=1)
    detector = _detector(rule_value)
    if not (rule_value.enabled and rule_value.hook.covers(chosen) and method in rule_value.methods):
        typer.echo(f"rule {rule_value.name!r} does not apply to {method} on the {chosen.value} leg")
        raise typer.Exit(0)
    typer.echo("note: hash uses a throwaway key here; the gateway's digests differ", err=True)
    key = secrets.token_bytes(32)
    result = anyio.run(lambda: evaluate([Compiled(rule_value, detector)], chosen, scanned, loaded, key=key))
    _show(result)
    raise typer.Exit(1 if result.blocked is not None else 0)


def _rule_spec(ctx: typer.Context, path: Path | None, gateway: str | None, name: str | None) -> RuleSpec:
    if (path is None) == (gateway is None and name is None):
        _bad("give --rule-file, or --gateway and --rule")
    if path is not None:
        raw = _read(path, yaml_ok=True)
    else:
        if gateway is None or name is None:
            _bad("give both --gateway and --rule")
        root = ctx.find_root().params
        try:
            client = open_client(root.get("url"), root.get("token"))
            body = client.call(BY_ID["rules_get"], {"gateway": gateway, "rule": name}) or b"{}"
        except CallFailed as exc:
            _bad(exc.describe())
        raw = {k: v for k, v in orjson.loads(body).items() if k in RuleSpec.model_fields}
    if not isinstance(raw, dict):
        _bad("a rule is a mapping of its fields")
    try:
        return RuleSpec.model_validate(raw)
    except pydantic.ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        _bad(f"{'.'.join(map(str, first['loc']))}: {first['msg']}")


def _detector(rule: Rule) -> Detector:
    detection = rule.detection
    if isinstance(detection, EngineDetection):
        _bad(
            f"rule {rule.name!r} asks the rule engine {detection.engine!r}, which is not run locally; "
            f"use 'lockgate engines test {detection.engine}' to ask it about a sample"
        )
    model = load_settings().presidio_model
    try:
        check_rule(rule, engines=(), ner_model=model is not None)
    except RuleDefinitionError as exc:
        _bad(str(exc))
    if isinstance(detection, PresidioDetection):
        return _presidio(detection, model)
    return RegexDetector(detection)


def _presidio(detection: PresidioDetection, model: str | None) -> Detector:
    """Presidio's detector, offline, on the operator's model when ``LOCKGATE_PRESIDIO_MODEL`` names one
    (its first build takes a second or more)."""
    try:
        return PresidioDetector(detection, offline_analyzer(model))
    except ValueError as exc:
        _bad(str(exc))


def _load_message(path: Path) -> dict[str, Any]:
    loaded = _read(path, yaml_ok=False)
    if not isinstance(loaded, dict) or loaded.get("jsonrpc") != "2.0":
        _bad(f'{path}: a JSON-RPC 2.0 message (an object with "jsonrpc": "2.0")')
    return loaded


def _read(path: Path, *, yaml_ok: bool) -> Any:
    try:
        text = path.read_text()
    except OSError as exc:
        _bad(f"cannot read {path}: {exc.strerror}")
    try:
        if yaml_ok and path.suffix in (".yaml", ".yml"):
            return yaml.safe_load(text)
        return orjson.loads(text)
    except (yaml.YAMLError, orjson.JSONDecodeError) as exc:
        _bad(f"{path} cannot be parsed: {exc}")


def _show(result: Evaluation) -> None:
    typer.echo(orjson.dumps(result.message, option=orjson.OPT_INDENT_2).decode())
    for outcome in result.outcomes:
        plural = "es" if outcome.matches != 1 else ""
        typer.echo(f"rule {outcome.rule!r}: {outcome.action} ({outcome.matches} match{plural})")
    if not result.outcomes:
        typer.echo("no rule acted")
    if result.blocked is not None:
        typer.echo(f"blocked by rule {result.blocked.rule.name!r}: {result.blocked.reason}")
    else:
        typer.echo("passed" + (" (changed)" if result.changed else ""))


def _bad(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)

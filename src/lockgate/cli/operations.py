"""``lockgate <group> <command>`` for every operation of the table, generated.

Each command's arguments and options come from the operation's input (``cli/parameters.py``), plus
``--json`` (the whole input as one JSON document; options given beside it win) and ``-o/--output``.
It runs through the client the root options choose (``cli/context.py``: the API at ``--url``, or the
local store) and prints with ``cli/output.py``. Failures print ``error: <the API's message>`` and
exit 1; usage errors exit 2.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any

import typer

from lockgate.api.operation import Operation
from lockgate.cli.completion import resolve_completion
from lockgate.cli.context import call
from lockgate.cli.lookups import Lookup
from lockgate.cli.output import ReplyFormat, show_reply
from lockgate.cli.parameters import Parameter, convert_value, load_document, resolve_parameters
from lockgate.domain.capabilities import Capability
from lockgate.policy.access_control import EVERYONE

OUTPUT_HELP = "table (for people), json (the API's answer as it is, for scripts) or yaml (the same, as YAML)."
JSON_HELP = "The whole input as a JSON object, or @FILE (JSON, or YAML for .yaml/.yml)."
INTERNAL = ("ctx", "output", "json_input")  # the generated function's own parameters


def build_groups(
    operations: Sequence[Operation], *, positional: bool = True, lookups: Mapping[str, Lookup] | None = None
) -> dict[str, typer.Typer]:
    """One command group per ``group`` of ``operations``, in table order; ``lookups`` by group
    apply to its operations that take the lookup's path parameter. See ``resolve_parameters`` for
    ``positional``. A group's help is its one line in the root's ``COMMANDS`` (``cli/__init__.py``)."""
    groups: dict[str, typer.Typer] = {}
    for operation in operations:
        if operation.group not in groups:
            groups[operation.group] = typer.Typer(no_args_is_help=True)
        lookup = (lookups or {}).get(operation.group)
        command = build_command(
            operation,
            operations,
            positional=positional,
            lookup=lookup if lookup and lookup.parameter in operation.path_params else None,
        )
        groups[operation.group].command(
            operation.command, help=describe_operation(operation), short_help=operation.summary
        )(command)
    return groups


def build_command(
    operation: Operation,
    operations: Sequence[Operation],
    *,
    positional: bool = True,
    lookup: Lookup | None = None,
) -> Callable[..., None]:
    """The command's function, with a signature typer reads as its arguments and options.

    Raises:
        ValueError: a field whose option clashes with another's or with ``-o``/``--json``.
    """
    parameters = resolve_parameters(operation, positional=positional)
    lister = (
        next(op for op in operations if op.group == operation.group and op.command == "list")
        if lookup
        else None
    )
    picks = lookup.resolve_options(lister) if lookup and lister else []
    clash = {p.field for p in parameters} & {*INTERNAL, *(p.field for p in picks)}
    if clash:
        raise ValueError(f"{operation.id}: field {clash.pop()!r} clashes with a command option")

    def run(ctx: typer.Context, output: ReplyFormat, json_input: str | None = None, **given: Any) -> None:
        values = _load_input(json_input) if json_input else {}
        for parameter in parameters:
            if given[parameter.field] is not None and given[parameter.field] != []:
                values[parameter.field] = convert_value(parameter, given[parameter.field])
        if lookup and lister and lookup.parameter not in values:
            values[lookup.parameter] = lookup.select(ctx, lister, {p.field: given[p.field] for p in picks})
        show_reply(operation, call(ctx, operation, values), output)

    signature = [inspect.Parameter("ctx", inspect.Parameter.KEYWORD_ONLY, annotation=typer.Context)]
    for parameter in parameters:
        if lookup and parameter.field == lookup.parameter:
            hint = f"Its id, or pick it with {lookup.options}."
            signature.append(_annotate(dataclasses.replace(parameter, help=hint), operations, optional=True))
        else:
            signature.append(_annotate(parameter, operations))
    signature += [_annotate(p, operations) for p in picks]
    signature.append(
        _keyword("output", ReplyFormat, "table", typer.Option("--output", "-o", help=OUTPUT_HELP))
    )
    if any(not p.positional for p in parameters):
        signature.append(
            _keyword(
                "json_input", str | None, None, typer.Option("--json", help=JSON_HELP, metavar="JSON|@FILE")
            )
        )
    run.__signature__ = inspect.Signature(signature)  # type: ignore[attr-defined]
    return run


def describe_operation(operation: Operation) -> str:
    """The handler's docstring (else the summary) and who may run it."""
    if operation.requires == EVERYONE:
        needs = "Any signed-in user may run it; results are scoped to what they may see."
    else:
        needs = f"Needs the capability '{Capability(operation.requires).label}'."
    return f"{operation.description}\n\n{needs}"


def _annotate(
    parameter: Parameter, operations: Sequence[Operation], optional: bool = False
) -> inspect.Parameter:
    complete = resolve_completion(parameter, operations)
    if parameter.positional:
        argument = typer.Argument(metavar=parameter.metavar, help=parameter.help, autocompletion=complete)
        if optional:
            return _keyword(parameter.field, parameter.type | None, None, argument)
        return inspect.Parameter(
            parameter.field, inspect.Parameter.KEYWORD_ONLY, annotation=Annotated[parameter.type, argument]
        )
    names = parameter.option_names
    if parameter.kind == "flag":
        names = (f"{names[0]}/--no-{names[0][2:]}",)
    option = typer.Option(
        *names, help=parameter.help, metavar=parameter.metavar, show_default=False, autocompletion=complete
    )
    return _keyword(parameter.field, parameter.type | None, None, option)


def _keyword(name: str, type_: Any, default: Any, info: Any) -> inspect.Parameter:
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=Annotated[type_, info]
    )


def _load_input(text: str) -> dict[str, Any]:
    document = load_document(text, "--json")
    if not isinstance(document, dict):
        raise typer.BadParameter("expected a JSON object", param_hint="--json")
    return document

"""An operation's input fields as command-line parameters, chosen from each field's type.

One rule for every operation:

==============================================================  =======================================
the field                                                       on the command line
==============================================================  =======================================
a path parameter, or a required str, int, float or choice       a positional argument (path order, then
                                                                field order)
bool                                                            ``--name/--no-name``
str, int, float, a choice (enum, ``Literal``)                   ``--name VALUE``
a list of those                                                 ``--name VALUE``, repeated; the singular
                                                                name, the plural also accepted
a dict of those                                                 ``--name KEY=VALUE`` or
                                                                ``--name 'Key: value'``, repeated
a value or an object (``ActionKind | ActionSpec``)              ``--name VALUE``, or ``--name JSON``
                                                                (an object) or ``--name @FILE``
anything else (objects, lists of objects)                       ``--name JSON`` or ``--name @FILE``
==============================================================  =======================================

Options left out are not sent: the API applies its own defaults, which the help shows.
"""

from __future__ import annotations

import enum
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import orjson
import typer
import yaml
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from lockgate.api.operation import Operation

Kind = Literal["value", "flag", "values", "pairs", "document", "value_or_document"]
METAVARS: dict[Kind, str] = {
    "values": "VALUE",
    "pairs": "KEY=VALUE",
    "document": "JSON|@FILE",
    "value_or_document": "VALUE|JSON|@FILE",
}
NOTES: dict[Kind, str] = {
    "values": "Repeat for more.",
    "pairs": "KEY=VALUE or 'Name: value'; repeat for more.",
    "document": "JSON, or @FILE holding JSON (or YAML for .yaml/.yml).",
}


@dataclass(frozen=True, slots=True)
class Parameter:
    """How one input field is given: ``kind`` (see the module's table) and ``type``, what typer
    converts the text to before ``convert_value``. ``help`` ends with the API's default."""

    field: str
    kind: Kind
    type: Any
    positional: bool
    help: str

    @property
    def option_names(self) -> tuple[str, ...]:
        """``--if-match``; a list or dict field also by its singular: (``--header``, ``--headers``)."""
        name = "--" + self.field.replace("_", "-")
        if self.kind in ("values", "pairs") and singular(name) != name:
            return singular(name), name
        return (name,)

    @property
    def metavar(self) -> str | None:
        return self.field.upper() if self.positional else METAVARS.get(self.kind)


def resolve_parameters(operation: Operation, *, positional: bool = True) -> list[Parameter]:
    """The operation's parameters: path parameters first, in path order, then the input's own
    fields, then those it inherits (``if_match``, ``cursor``, ``limit``).

    With ``positional`` False only path parameters are positional and required fields are options
    (``--host H``, their help saying "Required."; the API names one left out), the form of the
    commands that predate the operation table.

    Raises:
        ValueError: two fields would share an option name.
    """
    fields = operation.input.model_fields
    inherited = {f for base in operation.input.__mro__[1:] for f in getattr(base, "model_fields", {})}
    rest = [f for f in fields if f not in operation.path_params]
    order = [
        *operation.path_params,
        *(f for f in rest if f not in inherited),
        *(f for f in rest if f in inherited),
    ]
    parameters = [_parameter(name, fields[name], name in operation.path_params, positional) for name in order]
    taken = {n for p in parameters for n in p.option_names}
    if len(taken) < sum(len(p.option_names) for p in parameters):
        raise ValueError(f"{operation.id}: two fields share an option name")
    return parameters


def _parameter(name: str, info: FieldInfo, in_path: bool, positional: bool) -> Parameter:
    kind, type_ = resolve_kind(info.annotation)
    required = in_path or info.is_required()
    is_positional = in_path or (positional and required and kind == "value")
    parts = [
        "Required." if required and not is_positional else "",
        info.description or "",
        NOTES.get(kind, ""),
        _describe_default(name, info.default),
    ]
    return Parameter(name, kind, type_, is_positional, " ".join(part for part in parts if part))


def _describe_default(name: str, default: Any) -> str:
    if default is PydanticUndefined or default is None or default == [] or default == {}:
        return ""
    if isinstance(default, bool):
        return f"Default: --{'' if default else 'no-'}{name.replace('_', '-')}."
    return f"Default: {default.value if isinstance(default, enum.Enum) else default}."


def resolve_kind(annotation: Any) -> tuple[Kind, Any]:
    """A field's kind and the type its text converts to (``str`` for pairs and documents)."""
    annotation = _strip(annotation)
    if annotation is bool:
        return "flag", bool
    if _is_value(annotation):
        return "value", annotation
    if _is_values_of_several_types(annotation):
        return "value", str
    origin, args = get_origin(annotation), get_args(annotation)
    if origin in (list, tuple, set, frozenset) and args and _is_value(_strip(args[0])):
        return "values", list[_strip(args[0])]  # type: ignore[misc]
    if origin is dict and args and args[0] is str and _is_value(_strip(args[1])):
        return "pairs", list[str]
    if origin in (Union, types.UnionType) and any(_is_value(_strip(a)) for a in args):
        return "value_or_document", str
    return "document", str


def _strip(annotation: Any) -> Any:
    """The type without ``Annotated`` metadata and without ``| None``."""
    if get_origin(annotation) is Annotated:
        return _strip(get_args(annotation)[0])
    if get_origin(annotation) in (Union, types.UnionType):
        present = [a for a in get_args(annotation) if a is not type(None)]
        if len(present) == 1:
            return _strip(present[0])
    return annotation


def _is_value(annotation: Any) -> bool:
    if annotation in (str, int, float) or get_origin(annotation) is Literal:
        return True
    return isinstance(annotation, type) and issubclass(annotation, enum.Enum)


def _is_values_of_several_types(annotation: Any) -> bool:
    """``int | str`` and the like: given as text, the API's validation picks the type."""
    if get_origin(annotation) not in (Union, types.UnionType):
        return False
    return all(_is_value(_strip(a)) for a in get_args(annotation) if a is not type(None))


def singular(name: str) -> str:
    """``--headers`` → ``--header``, ``--capabilities`` → ``--capability``; others unchanged."""
    if name.endswith("ies"):
        return name[:-3] + "y"
    if name.endswith("s") and not name.endswith(("ss", "us")):
        return name[:-1]
    return name


def convert_value(parameter: Parameter, given: Any) -> Any:
    """The field's value from what the command line gave.

    Raises:
        typer.BadParameter: a malformed ``KEY=VALUE`` pair or JSON document (exit code 2).
    """
    hint = parameter.option_names[0]
    if parameter.kind == "pairs":
        return dict(split_pair(item, hint) for item in given)
    if parameter.kind == "document" or (parameter.kind == "value_or_document" and given[:1] in ("{", "@")):
        return load_document(given, hint)
    if parameter.kind == "values":
        return list(given)
    return given


def split_pair(text: str, hint: str) -> tuple[str, str]:
    """``KEY=VALUE`` or ``Name: value``, split at whichever of ``=`` and ``:`` comes first."""
    cut = min((i for i in (text.find("="), text.find(":")) if i > 0), default=-1)
    if cut < 0:
        raise typer.BadParameter(f"expected KEY=VALUE or 'Name: value', got {text!r}", param_hint=hint)
    return text[:cut].strip(), text[cut + 1 :].strip()


def load_document(text: str, hint: str) -> Any:
    """A JSON value, or ``@FILE``: the file's JSON, or YAML when it is named ``.yaml``/``.yml``."""
    source, content = "the value", text
    if text.startswith("@"):
        path = Path(text[1:])
        source = str(path)
        try:
            content = path.read_text()
        except OSError as exc:
            raise typer.BadParameter(f"cannot read {path}: {exc.strerror}", param_hint=hint) from exc
        if path.suffix in (".yaml", ".yml"):
            try:
                return yaml.safe_load(content)
            except yaml.YAMLError as exc:
                raise typer.BadParameter(f"{source} is not valid YAML: {exc}", param_hint=hint) from exc
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError as exc:
        raise typer.BadParameter(f"{source} is not valid JSON: {exc}", param_hint=hint) from exc

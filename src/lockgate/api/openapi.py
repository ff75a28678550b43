"""The OpenAPI 3.1 document of the JSON API, generated from the operation table."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from lockgate import __version__
from lockgate.api.errors import ERRORS
from lockgate.api.http import PREFIX
from lockgate.api.operation import Operation

REF = "#/components/schemas/{model}"


class ErrorBody(BaseModel):
    code: str
    message: str
    field: str | None = None
    capability: str | None = None
    correlation_id: str


class Error(BaseModel):
    """The one error envelope every failure answers with."""

    error: ErrorBody


def build_openapi(operations: Sequence[Operation]) -> dict[str, Any]:
    """The document served at ``/api/v1/openapi.json``.

    Each operation declares its capability as ``x-required-capability`` (null: any signed-in user)
    and in its description.
    """
    outputs = {op.output for op in operations if op.output is not None} | {Error}
    inputs = {op.input for op in operations}
    keys: list[tuple[type[BaseModel], JsonSchemaMode]] = [
        (m, "serialization") for m in sorted(outputs, key=_name)
    ]
    keys += [(m, "validation") for m in sorted(inputs, key=_name)]
    refs, top = models_json_schema(keys, ref_template=REF)
    schemas: dict[str, Any] = top.get("$defs", {})
    input_schemas = {m: schemas.pop(_ref_name(refs[(m, "validation")])) for m in inputs}
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        item = paths.setdefault(PREFIX + op.path, {})
        item[op.method.lower()] = _operation(op, input_schemas[op.input], refs)
        links = _links(op, operations)
        if links:
            item[op.method.lower()]["responses"][str(op.status)]["links"] = links
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Lockgate control plane",
            "version": __version__,
            "description": "Servers, gateways, hosts, connections, API tokens, people, roles and teams.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearerAuth": []}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "description": "A personal access token."}
            },
        },
    }


def _operation(op: Operation, schema: dict[str, Any], refs: dict[Any, Any]) -> dict[str, Any]:
    properties: dict[str, Any] = schema.get("properties", {})
    required = set(schema.get("required", []))
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": properties[name]} for name in op.path_params
    ]
    if "if_match" in properties:
        parameters.append(
            {
                "name": "If-Match",
                "in": "header",
                "required": False,
                "description": "The version (ETag) the change is based on; 412 if it moved on.",
                "schema": {"type": "string", "pattern": r'^"?[1-9][0-9]{0,17}"?$'},
            }
        )
    rest = {k: v for k, v in properties.items() if k not in op.path_params and k != "if_match"}
    document: dict[str, Any] = {
        "operationId": op.id,
        "summary": op.summary,
        "description": op.documentation,
        "tags": [op.group],
        "x-required-capability": None if op.requires == "everyone" else str(op.requires),
    }
    if op.method in ("GET", "DELETE"):
        parameters += [
            {"name": k, "in": "query", "required": k in required, "schema": v} for k, v in rest.items()
        ]
    else:
        body = {"type": "object", "properties": rest, "additionalProperties": False}
        body_required = sorted(required & rest.keys())
        if body_required:
            body["required"] = body_required
        document["requestBody"] = {
            "required": bool(body_required),
            "content": {"application/json": {"schema": body}},
        }
    document["parameters"] = parameters
    responses: dict[str, Any] = {}
    if op.output is None:
        responses[str(op.status)] = {"description": "Done."}
    else:
        responses[str(op.status)] = {
            "description": op.summary,
            "content": {"application/json": {"schema": refs[(op.output, "serialization")]}},
        }
    error = {"content": {"application/json": {"schema": refs[(Error, "serialization")]}}}
    for cls in ERRORS:
        responses[str(cls.status)] = {"description": cls.code.replace("_", " "), **error}
    responses["500"] = {"description": "internal error", **error}
    document["responses"] = responses
    return document


def _links(op: Operation, operations: Sequence[Operation]) -> dict[str, Any]:
    """OpenAPI links from a creation to what can be done with what it created: its identifying
    field (``name``, ``email`` or ``id``) fills the item operations' last path parameter."""
    if op.method != "POST" or op.path_params or op.output is None:
        return {}
    key = next((k for k in ("name", "email", "id") if k in op.output.model_fields), None)
    if key is None:
        return {}
    links = {}
    for other in operations:
        if other.path.startswith(op.path + "/{") and len(other.path_params) == 1:
            links[other.id] = {
                "operationId": other.id,
                "parameters": {other.path_params[0]: f"$response.body#/{key}"},
            }
    return links


def _name(model: type[BaseModel]) -> str:
    return f"{model.__module__}.{model.__qualname__}"


def _ref_name(ref: dict[str, str]) -> str:
    return ref["$ref"].rsplit("/", 1)[1]

"""The control plane as a JSON API under ``/api/v1``, routed from the operation table.

Every response carries ``X-Correlation-Id``; every error is the one envelope of ``api/errors.py``.
Single resources carry an ``ETag`` (their version); changes honour ``If-Match`` (RFC 9110 §13.1.1)
and answer 412 when the resource moved on.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote

import anyio.to_thread
import orjson
from pydantic import BaseModel
from sqlalchemy import Engine
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from lockgate.api.auth import authenticate
from lockgate.api.errors import (
    ApiError,
    BadRequest,
    Forbidden,
    MethodNotAllowed,
    MisdirectedRequest,
    NotFound,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from lockgate.api.operation import Context, Operation, execute
from lockgate.domain.json_depth import MAX_DEPTH, exceeds_depth, may_exceed_depth

log = logging.getLogger("lockgate.api")
PREFIX = "/api/v1"
_ETAG = re.compile(r'^(?:W/)?"?([1-9][0-9]{0,17})"?$')  # a version fits in 64 bits


@dataclass(frozen=True, slots=True)
class _Route:
    pattern: re.Pattern[str]
    operation: Operation


def _compile(operation: Operation) -> _Route:
    regex = re.sub(r"{(\w+)}", r"(?P<\1>[^/]+)", operation.path)
    return _Route(re.compile(f"^{regex}$"), operation)


class ControlPlaneApi:
    """An ASGI app serving ``operations`` under ``/api/v1`` (mounted there by ``app.py``).

    ``make_context(actor, correlation_id)`` builds each request's Context.
    """

    def __init__(
        self,
        operations: Sequence[Operation],
        engine: Engine,
        token_key: bytes,
        make_context: Callable[..., Context],
        max_body_bytes: int,
        documents: dict[str, Callable[[], bytes]],
        guard: Callable[[str | None, str | None], tuple[int, str] | None],
    ) -> None:
        self.routes = [_compile(op) for op in operations]
        self.engine = engine
        self.token_key = token_key
        self.make_context = make_context
        self.max_body_bytes = max_body_bytes
        self.documents = documents  # unauthenticated JSON documents, e.g. openapi.json
        self.guard = guard  # Host/Origin validation, as on the data plane

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        correlation_id = str(uuid.uuid4())
        path = _routing_path(scope)[len(PREFIX) :] or "/"
        try:
            refused = self.guard(request.headers.get("host"), request.headers.get("origin"))
            if refused is not None:
                raise (MisdirectedRequest if refused[0] == 421 else Forbidden)(refused[1])
            if path.lstrip("/") in self.documents and request.method == "GET":
                body = self.documents[path.lstrip("/")]()
                response = Response(body, media_type="application/json")
            else:
                response = await self._serve(request, path, correlation_id)
        except ApiError as exc:
            response = _json(exc.envelope(correlation_id), exc.status)
            if exc.status == 401:
                response.headers["WWW-Authenticate"] = 'Bearer realm="lockgate"'
            if isinstance(exc, MethodNotAllowed):
                response.headers["Allow"] = ", ".join(exc.allowed)
        except Exception:
            log.exception("control plane: unexpected error (correlation id %s)", correlation_id)
            failure = ApiError("internal error; the server log has details under this correlation id")
            response = _json(failure.envelope(correlation_id), 500)
        response.headers["X-Correlation-Id"] = correlation_id
        await response(scope, receive, send)

    async def _serve(self, request: Request, path: str, correlation_id: str) -> Response:
        operation, path_params = self._match(request.method, path)
        actor = await anyio.to_thread.run_sync(
            authenticate, self.engine, self.token_key, request.headers.get("authorization")
        )
        raw = await self._inputs(request, operation, path_params)
        ctx = self.make_context(actor, correlation_id)
        result = await execute(operation, ctx, raw, strict=operation.method in ("POST", "PATCH"))
        if result is None:
            return Response(status_code=204)
        response = _json(result, operation.status)
        version = getattr(result, "version", None)
        if isinstance(version, int):
            response.headers["ETag"] = f'"{version}"'
        return response

    def _match(self, method: str, path: str) -> tuple[Operation, dict[str, str]]:
        allowed = []
        for route in self.routes:
            found = route.pattern.match(path)
            if found is None:
                continue
            if route.operation.method == method:
                return route.operation, {k: unquote(v) for k, v in found.groupdict().items()}
            allowed.append(route.operation.method)
        if allowed:
            raise MethodNotAllowed(method, sorted(set(allowed)))
        raise NotFound(f"no such endpoint: {PREFIX}{path}")

    async def _inputs(
        self, request: Request, operation: Operation, path_params: dict[str, str]
    ) -> dict[str, Any]:
        raw: dict[str, Any] = {}
        if operation.method in ("GET", "DELETE"):
            raw.update(parse_qsl(request.url.query, keep_blank_values=True))
        else:
            raw.update(await self._body(request))
        for name in path_params:
            if name in raw:
                raise BadRequest(f"{name}: give it in the path, not the request", field=name)
        for name, value in path_params.items():  # a JSON body's numbers are numbers; a path's are text
            field = operation.input.model_fields.get(name)
            integer = field is not None and field.annotation is int and value.isdigit()
            raw[name] = int(value) if integer else value
        if "if_match" in raw:
            raise BadRequest("if_match: send it as the If-Match header", field="if_match")
        if_match = request.headers.get("if-match")
        if if_match is not None and if_match.strip() != "*":
            if "if_match" not in operation.input.model_fields:
                raise BadRequest("If-Match: this operation changes nothing versioned", field="If-Match")
            found = _ETAG.match(if_match.strip())
            if found is None:
                raise BadRequest('If-Match: expected an ETag such as "3"', field="If-Match")
            raw["if_match"] = int(found.group(1))
        return raw

    async def _body(self, request: Request) -> dict[str, Any]:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            raise PayloadTooLarge(f"the body is larger than {self.max_body_bytes} bytes")
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > self.max_body_bytes:
                raise PayloadTooLarge(f"the body is larger than {self.max_body_bytes} bytes")
        if not body.strip():
            return {}
        media_type = request.headers.get("content-type", "application/json").split(";")[0].strip()
        if media_type != "application/json":
            raise UnsupportedMediaType("send the body as application/json")
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise BadRequest(f"the body is not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise BadRequest("the body must be a JSON object")
        if may_exceed_depth(body) and exceeds_depth(data):
            raise BadRequest(f"the body is nested deeper than {MAX_DEPTH} levels")
        return data


def _routing_path(scope: Scope) -> str:
    """The path as the client sent it, percent-encoding kept, so that a path parameter may hold an
    encoded ``/`` (identity names are ``<email>/<server>``); the decoded path when the two do not
    agree (e.g. behind a proxy's root path). Route parameters are decoded after matching."""
    decoded = str(scope["path"])
    raw = scope.get("raw_path")
    if raw:
        sent = bytes(raw).decode("latin-1")
        if unquote(sent) == decoded:
            return sent
    return decoded


def _json(content: BaseModel | dict[str, Any], status: int) -> Response:
    if isinstance(content, BaseModel):
        body = content.__pydantic_serializer__.to_json(content)
    else:
        body = orjson.dumps(content)
    return Response(body, status_code=status, media_type="application/json")

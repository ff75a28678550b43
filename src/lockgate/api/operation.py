"""One control-plane operation: what it is called, where it lives, what it needs, what it does.

The operation table (``api/table.py``) is the single source of the JSON API's routes and OpenAPI
document, the admin MCP endpoint's tools and the CLI's resource commands. A handler is a plain
function ``handler(ctx, args) -> output`` over validated pydantic values; it reads and writes the
store through ``ctx.transaction()`` and records every change with ``ctx.record``.
"""

from __future__ import annotations

import contextlib
import inspect
import re
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeVar

import anyio.to_thread
import orjson
import pydantic
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection, Engine

from lockgate.api.errors import (
    ApiError,
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    PreconditionFailed,
    UnprocessableContent,
)
from lockgate.domain.actor import Actor
from lockgate.domain.capabilities import Capability
from lockgate.domain.declaration import ServerSpec
from lockgate.domain.model import Credential, Server
from lockgate.domain.rules import RuleEngine
from lockgate.egress import LOOPBACK_NETWORKS, IPNetwork, parse_networks, resolve_url_refusal
from lockgate.policy.access_control import (
    EVERYONE,
    Refusal,
    Requirement,
    can_see_server,
    can_use_gateway,
    resolve_refusal,
)
from lockgate.store.admin_events import save_admin_event
from lockgate.store.errors import ConflictError, LimitError, NotFoundError, StaleVersionError
from lockgate.upstream.preview import Preview
from lockgate.vault import Vault

Method = Literal["GET", "POST", "PATCH", "DELETE"]
PATH_PARAM = re.compile(r"{(\w+)}")
M = TypeVar("M", bound=BaseModel)


class Input(BaseModel):
    """Base of every operation's input: unknown fields are refused, so typos are named."""

    model_config = ConfigDict(extra="forbid")


class NoInput(Input):
    pass


class Versioned(Input):
    """Input of a change guarded by optimistic concurrency: ``if_match`` is the version the caller
    read (the JSON API takes it from the ``If-Match`` header, RFC 9110 §13.1.1)."""

    if_match: int | None = Field(
        None, ge=1, lt=10**18, description="Apply only if the resource is still at this version (its ETag)."
    )


Handler = Callable[["Context", Any], Any]


class EngineTesting(Protocol):
    """What runs a rule engine's built-in Test (``lockgate.engines.Engines``; tests give a fake)."""

    async def test(self, engine: RuleEngine) -> Any:
        """An ``EngineTest``: ``verdict`` (a ``Verdict``, None when it failed), ``failure`` (why),
        ``duration_ms``. Never raises."""
        ...


@dataclass(frozen=True, slots=True)
class Operation:
    """A control-plane operation.

    ``group`` and ``command`` name it in the CLI (``lockgate gateways create``); ``id`` — the
    OpenAPI ``operationId`` and the admin MCP tool name — is ``<group>_<command>``. Fields of
    ``input`` named in ``path`` are path parameters; the others are the query string of a GET or
    DELETE and the JSON body of a POST or PATCH. ``output`` None answers 204 No Content.
    ``requires`` is the capability the actor's role must hold (``EVERYONE``: any signed-in user).
    ``columns`` are what a person sees of each item in the CLI's table.
    """

    group: str
    command: str
    method: Method
    path: str
    summary: str
    requires: Requirement
    handler: Handler
    input: type[Input] = NoInput
    output: type[BaseModel] | None = None
    status: int = 200
    columns: tuple[str, ...] = ()
    reveals: str | None = None  # an output field shown once (a new token)
    path_params: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "path_params", tuple(PATH_PARAM.findall(self.path)))

    @property
    def id(self) -> str:
        return f"{self.group}_{self.command}".replace("-", "_")

    @property
    def description(self) -> str:
        return inspect.getdoc(self.handler) or self.summary

    @property
    def documentation(self) -> str:
        """The description people and agents read (OpenAPI, MCP tools), ending with what it requires."""
        if self.requires == EVERYONE:
            needs = "any signed-in user (results are scoped to what they may see)"
        else:
            needs = f"capability '{Capability(self.requires).label}' ({self.requires})"
        return f"{self.description}\n\nRequires: {needs}."


@dataclass(slots=True)
class Context:
    """What a handler may use: the store, who is calling, and this request's correlation id."""

    engine: Engine
    actor: Actor
    correlation_id: str
    token_key: bytes
    vault: Vault
    operation: str = ""
    # a live look at a server's features, as an identity (None: the server's own configuration)
    preview: Callable[[Server, Credential | None], Awaitable[Preview]] | None = None
    public_url: str = "http://127.0.0.1:8080"  # where people reach Lockgate (connection links)
    server_networks: tuple[IPNetwork, ...] = parse_networks(LOOPBACK_NETWORKS)  # server_allowed_networks
    egress_networks: tuple[IPNetwork, ...] = ()  # egress_allowed_networks: rule engines may reach them
    ner_model: bool = False  # a Presidio NER model is configured (LOCKGATE_PRESIDIO_MODEL)
    engines: EngineTesting | None = None  # rule engines' Test; None where none can be reached

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A transaction; the change and its admin events commit together or not at all."""
        with self.engine.begin() as conn:
            yield conn

    def record(self, conn: Connection, kind: str, name: str, before: Any, after: Any) -> None:
        """Record an admin event for a change made in ``conn``: who, what, before and after."""
        save_admin_event(
            conn,
            correlation_id=self.correlation_id,
            actor=self.actor.email,
            operation=self.operation,
            kind=kind,
            name=name,
            before=before,
            after=after,
        )

    def require(self, requirement: Requirement) -> None:
        """Raises Forbidden unless the actor's role meets ``requirement``: for a change that needs
        more than its operation's ``requires`` (e.g. creating a server already disabled)."""
        _raise(resolve_refusal(self.actor, requirement))

    def require_gateway(self, gateway_id: int, gateway: str, unseen: str | None = None) -> None:
        """Raises NotFound unless one of the actor's teams is granted the gateway (or a "view all"
        capability overrides team scoping). Someone who may not see a resource gets the answer for
        one that does not exist — ``unseen``, by default ``no gateway named ...`` — so names cannot
        be probed (OWASP ASVS V8.2.2; RFC 9110 §15.5.5 allows a 404 for a resource hidden)."""
        if not can_use_gateway(self.actor, gateway_id):
            raise NotFound(unseen or f"no gateway named {gateway!r}")

    def require_server(self, gateway_ids: list[int], server: str) -> None:
        """Raises NotFound, as for a server that does not exist, unless the actor sees the server
        (product spec §6.1; see ``require_gateway``)."""
        if not can_see_server(self.actor, gateway_ids):
            raise NotFound(f"no server named {server!r}")

    def require_reachable(self, spec: ServerSpec) -> None:
        """Raises UnprocessableContent (422) when ``spec`` is an http or sse server whose URL names a
        literal address (or ``localhost``) outside the networks servers may reach (the
        ``server_allowed_networks`` setting). Host names are judged when the pool connects, after
        each resolution (``upstream/http_client.py``)."""
        reason = resolve_url_refusal(spec.url, self.server_networks) if spec.url else None
        if reason is not None:
            raise UnprocessableContent(
                f"server {spec.name!r}: its url is a {reason} address, outside the networks servers "
                "may reach (LOCKGATE_SERVER_ALLOWED_NETWORKS)",
                field="url",
            )


def _raise(refusal: Refusal | None) -> None:
    if refusal is not None:
        raise Forbidden(refusal.message, capability=refusal.capability.value)


def validate_input(operation: Operation, raw: dict[str, Any], strict: bool) -> Input:
    """The operation's input from raw values: JSON values checked strictly (``0`` is no boolean)
    when ``strict``, else strings as a query string carries them.

    Raises:
        BadRequest: naming the first offending field, dotted (``servers.0.url``).
    """
    return validate_model(operation.input, raw, strict)


def validate_model(model: type[M], raw: dict[str, Any], strict: bool = False) -> M:
    """``model`` from raw values, e.g. a resource merged with a partial update.

    Raises:
        BadRequest: naming the first offending field, dotted (``servers.0.url``).
    """
    try:
        if strict:
            return model.model_validate_json(orjson.dumps(raw), strict=True)
        return model.model_validate(raw)
    except pydantic.ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        location = ".".join(str(part) for part in first["loc"])
        where = f"{location}: " if location else ""
        raise BadRequest(f"{where}{first['msg']}", field=location or None) from exc


async def execute(
    operation: Operation, ctx: Context, raw: dict[str, Any], strict: bool = True
) -> BaseModel | None:
    """Authorize, validate and run one operation; store errors become API errors. ``raw`` holds
    JSON values (``strict``) or the strings of a query string.

    Raises:
        ApiError: Forbidden when the actor's role lacks ``operation.requires``; BadRequest,
            NotFound, Conflict, PreconditionFailed from validation and the handler.
    """
    _raise(resolve_refusal(ctx.actor, operation.requires))
    args = validate_input(operation, raw, strict)
    ctx.operation = operation.id
    try:
        if inspect.iscoroutinefunction(operation.handler):
            result = await operation.handler(ctx, args)
        else:
            result = await anyio.to_thread.run_sync(operation.handler, ctx, args)
    except NotFoundError as exc:
        raise NotFound(str(exc)) from exc
    except StaleVersionError as exc:
        raise PreconditionFailed(str(exc)) from exc
    except ConflictError as exc:
        raise Conflict(str(exc)) from exc
    except LimitError as exc:
        raise UnprocessableContent(str(exc)) from exc
    except ValueError as exc:  # a malformed cursor or a value only the store can judge
        if isinstance(exc, ApiError):
            raise
        raise BadRequest(str(exc)) from exc
    return result  # type: ignore[no-any-return]

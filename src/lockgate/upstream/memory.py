"""In-memory upstreams, for tests only: the twin of the real transports, as httpx's ``MockTransport``
is the twin of its network transport. Nothing here opens a socket or a process.

``MemoryUpstream`` is an ``Upstream`` that answers each request by awaiting a handler,
``handler(method, params, client) -> {"result": ...} | {"error": ...}``. The handler relays
server→client requests (sampling, elicitation, roots) through ``client.on_request`` and sends
notifications related to the call (progress, logging) through ``client.on_notification``, as a server
does within a call; ``push`` sends a notification unrelated to any call (list_changed,
resources/updated) to the pool. Messages cross as JSON does on a wire: each side gets its own copy.

``MemoryServer`` is a small declarative MCP server on top: tools, prompts, resources and resource
templates as lists of definitions that a test may change and then ``announce`` (e.g.
``notifications/tools/list_changed``); a ``notifications/resources/updated`` reaches a modern
connection only if the URI is one it ``watch``es (as a modern server sends updates on the listen that
named the URI), a legacy connection whatever it subscribed. ``memory_factory`` is the
``UpstreamFactory`` that gives an ``UpstreamPool`` a connection to the memory server named like each
server::

    alpha = MemoryServer(tools=[{"name": "echo", "inputSchema": {"type": "object"}}])
    pool = UpstreamPool(on_notification, factory=memory_factory({"alpha": alpha}))
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from lockgate.domain.mcp import Client, Era, JsonObject
from lockgate.upstream.base import UpstreamUnavailableError
from lockgate.upstream.listen import answer_subscription
from lockgate.upstream.pool import UpstreamFactory, UpstreamSpec
from lockgate.upstream.session import legacy_params, modern_params

Handler = Callable[[str, JsonObject | None, Client], Awaitable[JsonObject]]
"""Answers one request: ``(method, params, client)`` to a JSON-RPC response without its ``id``."""
ToolCall = Callable[[JsonObject, Client], Awaitable[JsonObject]]
"""Answers one ``tools/call``: ``(arguments, client)`` to a ``CallToolResult``."""

METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
RESOURCE_NOT_FOUND_LEGACY = -32002
"""An unknown resource before 2026-07-28 (MCP 2025-11-25 server/resources §Error Handling); from
2026-07-28 it is ``INVALID_PARAMS`` with the ``uri`` in ``data``."""


def _wire(message: Any) -> Any:
    """``message`` as the other side of a wire would read it: a deep copy, JSON values only."""
    return orjson.loads(orjson.dumps(message))


class MemoryUpstream:
    """One in-memory connection, built for the pool from ``spec``; speaks ``spec.era`` if the pool
    knows it (a legacy client mirrored onto a dual-era server), else ``era``. Opens on the first
    ``connect`` or ``request`` and then tells the pool its era; once closed, it refuses with
    ``UpstreamUnavailableError``. ``notifications`` keeps what the gateway sent it (cancellations,
    roots/list_changed); ``watched`` the resource URIs the pool last told it (``Upstream.watch``; a
    modern one answers ``resources/subscribe`` itself, as the real transports do); ``opened`` is set
    when it opens (an event it may share with other connections), ``closed`` when the pool closes it."""

    def __init__(
        self,
        spec: UpstreamSpec,
        handler: Handler,
        *,
        era: Era = Era.LEGACY,
        server_capabilities: JsonObject | None = None,
        server_info: JsonObject | None = None,
        opened: asyncio.Event | None = None,
    ) -> None:
        self.spec = spec
        self.era: Era = spec.era or era
        self.server_capabilities: JsonObject = server_capabilities or {}
        self.server_info: JsonObject = server_info or {"name": spec.server.name, "version": "1"}
        self.notifications: list[JsonObject] = []
        self.watched: frozenset[str] = frozenset()
        self.opened = opened or asyncio.Event()
        self.closed = asyncio.Event()
        self._handler = handler
        self._open = False
        self._era_told = False

    @property
    def is_open(self) -> bool:
        return self._open

    async def connect(self, client: Client) -> None:
        if self.closed.is_set():
            error = UpstreamUnavailableError(f"server {self.spec.server.name!r} is shutting down")
            error.sent = False
            raise error
        self._open = True
        self.opened.set()
        if not self._era_told:
            self._era_told = True
            self.spec.on_era(self.era)

    async def request(self, method: str, params: JsonObject | None, client: Client) -> JsonObject:
        await self.connect(client)
        if self.era is Era.MODERN and (answer := answer_subscription(method)) is not None:
            return answer
        sent = modern_params(params, client) if self.era is Era.MODERN else legacy_params(params)
        response: JsonObject = _wire(await self._handler(method, _wire(sent), client))
        return response

    def watch(self, uris: frozenset[str]) -> None:
        self.watched = uris

    async def notify(self, method: str, params: JsonObject | None) -> None:
        if self._open:
            self.notifications.append(_wire({"method": method, "params": params}))

    async def push(self, method: str, params: JsonObject | None = None) -> None:
        """Send a notification unrelated to any call to the pool, as a server does on its own."""
        message: JsonObject = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        await self.spec.on_notification(_wire(message))

    async def close(self) -> None:
        self._open = False
        self.closed.set()


class JsonRpcFault(Exception):
    """Raised by a ``ToolCall`` (or anywhere in a ``MemoryServer``) to answer a JSON-RPC error."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.error: JsonObject = {"code": code, "message": message}
        if data is not None:
            self.error["data"] = data


@dataclass(frozen=True, slots=True)
class Received:
    """One request a ``MemoryServer`` answered, with the identity of the connection it came on
    (0: the server's own configuration)."""

    method: str
    params: JsonObject | None
    identity_id: int


@dataclass(eq=False)
class MemoryServer:
    """A declarative MCP server, for tests. Lists its definitions as they are when asked (change them,
    then ``announce`` the list change), ``page_size`` at a time when set (the cursor is the offset).

    ``resources/subscribe`` is a legacy method (2026-07-28 has none: a modern connection watches URIs
    on its listen instead, ``MemoryUpstream.watch``). ``tools/call`` runs ``calls[name]`` if given,
    else echoes the arguments as JSON text; an unlisted tool or prompt is ``INVALID_PARAMS``.
    ``resources/read`` answers ``contents[uri]`` (empty text for a listed resource without one); an
    unknown URI is ``RESOURCE_NOT_FOUND_LEGACY`` for a legacy connection and ``INVALID_PARAMS`` with
    ``data.uri`` for a modern one. ``received`` records every
    request; ``upstreams`` every connection the pool built, in order; ``opened`` is set once one of
    them opens.
    """

    name: str = "memory"
    era: Era = Era.LEGACY
    tools: list[JsonObject] = field(default_factory=list)
    prompts: list[JsonObject] = field(default_factory=list)
    resources: list[JsonObject] = field(default_factory=list)
    resource_templates: list[JsonObject] = field(default_factory=list)
    calls: dict[str, ToolCall] = field(default_factory=dict)
    contents: dict[str, str] = field(default_factory=dict)
    page_size: int | None = None
    capabilities: JsonObject = field(
        default_factory=lambda: {
            "tools": {"listChanged": True},
            "prompts": {"listChanged": True},
            "resources": {"subscribe": True, "listChanged": True},
            "completions": {},
            "logging": {},
        }
    )
    received: list[Received] = field(default_factory=list)
    subscriptions: set[str] = field(default_factory=set)
    upstreams: list[MemoryUpstream] = field(default_factory=list)
    opened: asyncio.Event = field(default_factory=asyncio.Event)

    def upstream(self, spec: UpstreamSpec) -> MemoryUpstream:
        """A new connection to this server (an ``UpstreamFactory`` for a pool of one server)."""
        identity_id = spec.partition

        async def handle(method: str, params: JsonObject | None, client: Client) -> JsonObject:
            self.received.append(Received(method, params, identity_id))
            try:
                return await self._answer(method, params or {}, client, upstream.era)
            except JsonRpcFault as fault:
                return {"error": fault.error}

        upstream = MemoryUpstream(
            spec,
            handle,
            era=self.era,
            server_capabilities=self.capabilities,
            server_info={"name": self.name, "version": "1"},
            opened=self.opened,
        )
        self.upstreams.append(upstream)
        return upstream

    async def announce(self, method: str, params: JsonObject | None = None) -> None:
        """Send a notification unrelated to any call (e.g. ``notifications/tools/list_changed``) on
        every open connection, as a server does on each of its sessions."""
        uri = (params or {}).get("uri")
        for upstream in [u for u in self.upstreams if u.is_open]:
            unwatched = upstream.era is Era.MODERN and uri not in upstream.watched
            if method == "notifications/resources/updated" and unwatched:
                continue
            await upstream.push(method, params)

    async def _answer(self, method: str, params: JsonObject, client: Client, era: Era) -> JsonObject:
        listed = {
            "tools/list": ("tools", self.tools),
            "prompts/list": ("prompts", self.prompts),
            "resources/list": ("resources", self.resources),
            "resources/templates/list": ("resourceTemplates", self.resource_templates),
        }
        if method in listed:
            key, items = listed[method]
            return {"result": self._page(key, items, params.get("cursor"))}
        if method == "tools/call":
            return {"result": await self._call(params, client)}
        if method == "prompts/get":
            name = self._known(self.prompts, "prompt", params.get("name"))
            return {"result": {"messages": [{"role": "user", "content": {"type": "text", "text": name}}]}}
        if method == "resources/read":
            return {"result": {"contents": [self._read(params.get("uri"), era)]}}
        if method in ("resources/subscribe", "resources/unsubscribe") and era is Era.LEGACY:
            uri = str(params.get("uri"))
            (self.subscriptions.add if method == "resources/subscribe" else self.subscriptions.discard)(uri)
            return {"result": {}}
        if method == "completion/complete":
            complete = self.calls.get(method)  # a test's stand-in, e.g. one that logs meanwhile
            completion = await complete(params, client) if complete else {"completion": {"values": []}}
            return {"result": completion}
        if method in ("ping", "logging/setLevel"):
            return {"result": {}}
        raise JsonRpcFault(METHOD_NOT_FOUND, f"Method not found: {method}")

    def _page(self, key: str, items: list[JsonObject], cursor: Any) -> JsonObject:
        start = int(cursor) if isinstance(cursor, str) and cursor.isdigit() else 0
        end = len(items) if self.page_size is None else start + self.page_size
        page: JsonObject = {key: items[start:end]}
        if end < len(items):
            page["nextCursor"] = str(end)
        return page

    async def _call(self, params: JsonObject, client: Client) -> JsonObject:
        name = self._known(self.tools, "tool", params.get("name"))
        arguments = params.get("arguments") or {}
        call = self.calls.get(name)
        if call is not None:
            return await call(arguments, client)
        return {"content": [{"type": "text", "text": orjson.dumps(arguments).decode()}]}

    @staticmethod
    def _known(definitions: list[JsonObject], noun: str, name: Any) -> str:
        if not any(d.get("name") == name for d in definitions):
            raise JsonRpcFault(INVALID_PARAMS, f"Unknown {noun}: {name}")
        return str(name)

    def _read(self, uri: Any, era: Era) -> JsonObject:
        if uri not in self.contents and not any(r.get("uri") == uri for r in self.resources):
            if era is Era.MODERN:
                raise JsonRpcFault(INVALID_PARAMS, "Resource not found", {"uri": uri})
            raise JsonRpcFault(RESOURCE_NOT_FOUND_LEGACY, "Resource not found", {"uri": uri})
        return {"uri": uri, "mimeType": "text/plain", "text": self.contents.get(uri, "")}


def memory_factory(servers: Mapping[str, MemoryServer]) -> UpstreamFactory:
    """An ``UpstreamFactory`` that connects each server to the memory server of its name.

    Raises:
        KeyError: (when the pool builds a connection) no memory server has the server's name.
    """

    def build(spec: UpstreamSpec) -> MemoryUpstream:
        return servers[spec.server.name].upstream(spec)

    return build

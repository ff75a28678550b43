"""Forwarding one client message: decide where it goes, then carry it through the pipeline.

The order of one forwarded call is the order of its audit legs: the endpoint records
``proxy_request``; the pipeline (``pipeline.py``) runs the request steps, then records
``mcp_request`` and ``mcp_response`` around the upstream exchange this module makes; the endpoint
records ``proxy_response``. A refusal, here or in a step, records ``gateway_refused`` instead; this
module only raises it (``errors.Refusal``).
"""

from __future__ import annotations

import asyncio
from typing import Any

from lockgate.dataplane.access import connect_url, resolve_access
from lockgate.dataplane.catalog import Catalog
from lockgate.dataplane.connector import Connector
from lockgate.dataplane.credentials import CredentialRefreshError
from lockgate.dataplane.errors import (
    IDENTITY_REQUIRED,
    INVALID_PARAMS,
    METHOD_NOT_FOUND,
    RESOURCE_NOT_FOUND,
    UPSTREAM_FAILED,
    UPSTREAM_TIMEOUT,
    UPSTREAM_UNAVAILABLE,
    JsonRpcError,
    Refusal,
)
from lockgate.dataplane.exchange import Exchange
from lockgate.dataplane.mrtr import drive_input_required, is_input_required
from lockgate.dataplane.pipeline import Message, Pipeline, SendError
from lockgate.dataplane.routing import resolve_named, resolve_uri
from lockgate.domain.features import FeatureKind
from lockgate.domain.mcp import Era, JsonObject
from lockgate.domain.model import Assignment
from lockgate.upstream.base import ResponseTooLargeError, UpstreamError, UpstreamUnavailableError

NAMED = {"tools/call": FeatureKind.TOOL, "prompts/get": FeatureKind.PROMPT}
BY_URI = ("resources/read", "resources/subscribe", "resources/unsubscribe")


class Forwarder:
    """Routes client messages to the gateway's servers and sends them there through ``pipeline``.

    The connector's ``timeout`` is the upstream deadline in seconds for one call; past it the call is
    cancelled upstream and answered with -32011. Opening a connection first (starting a stdio server,
    the handshake) has its own deadline, ``connect_timeout``, so a cold start does not eat the call's.
    Names are routed with the catalog, which lists a server through the connector on first need.
    """

    def __init__(
        self, connector: Connector, catalog: Catalog, pipeline: Pipeline, *, public_url: str = ""
    ) -> None:
        self.connector = connector
        self.catalog = catalog
        self.pipeline = pipeline
        self.public_url = public_url

    async def handle(self, ex: Exchange) -> JsonObject:
        """The response (``result`` or ``error``) to a routed method.

        Raises:
            JsonRpcError: refused (``Refusal``) or failed.
        """
        method = ex.method
        if method in NAMED:
            return await self._call_named(ex, NAMED[method])
        if method in BY_URI:
            return await self._call_by_uri(ex)
        if method == "completion/complete":
            return await self._complete(ex)
        if method == "logging/setLevel":
            return await self._broadcast(ex)
        raise Refusal(METHOD_NOT_FOUND, f"Method not found: {method}", "unknown_method")

    async def _call_named(self, ex: Exchange, kind: FeatureKind) -> JsonObject:
        params = ex.params or {}
        name = params.get("name")
        if not isinstance(name, str):
            raise Refusal(INVALID_PARAMS, f"{ex.method} needs a string 'name'", "invalid_params")
        ex.feature_name = name
        route = await resolve_named(
            self.catalog, self.connector.list_features, ex.access.assignments, kind, name, ex.client
        )
        if route is None:
            noun = "tool" if kind is FeatureKind.TOOL else "prompt"
            raise self._unknown(ex, f"Unknown {noun}: {name}", f"unknown_{noun}")
        upstream_params = params if route.upstream_name == name else {**params, "name": route.upstream_name}
        return await self.forward(ex, route.assignment, upstream_params)

    async def _call_by_uri(self, ex: Exchange) -> JsonObject:
        uri = (ex.params or {}).get("uri")
        if not isinstance(uri, str):
            raise Refusal(INVALID_PARAMS, f"{ex.method} needs a string 'uri'", "invalid_params")
        ex.feature_name = uri
        assignment = await resolve_uri(
            self.catalog, self.connector.list_features, ex.access.assignments, uri, ex.client
        )
        if assignment is None:
            code = INVALID_PARAMS if ex.era is Era.MODERN else RESOURCE_NOT_FOUND
            raise self._unknown(ex, f"Resource not found: {uri}", "unknown_resource", code=code, uri=uri)
        return await self.forward(ex, assignment, ex.params)

    async def _complete(self, ex: Exchange) -> JsonObject:
        params = ex.params or {}
        ref = params.get("ref") or {}
        list_features, assignments = self.connector.list_features, ex.access.assignments
        if ref.get("type") == "ref/prompt" and isinstance(ref.get("name"), str):
            ex.feature_name = ref["name"]
            prompt = FeatureKind.PROMPT
            route = await resolve_named(
                self.catalog, list_features, assignments, prompt, ref["name"], ex.client
            )
            if route is None:
                raise Refusal(INVALID_PARAMS, f"Unknown prompt: {ref['name']}", "unknown_prompt")
            upstream_ref = {**ref, "name": route.upstream_name}
            return await self.forward(ex, route.assignment, {**params, "ref": upstream_ref})
        if ref.get("type") == "ref/resource" and isinstance(ref.get("uri"), str):
            ex.feature_name = ref["uri"]
            assignment = await resolve_uri(self.catalog, list_features, assignments, ref["uri"], ex.client)
            if assignment is None:
                raise Refusal(INVALID_PARAMS, f"Resource not found: {ref['uri']}", "unknown_resource")
            return await self.forward(ex, assignment, params)
        raise Refusal(
            INVALID_PARAMS, "completion/complete needs a ref/prompt or ref/resource", "invalid_params"
        )

    async def _broadcast(self, ex: Exchange) -> JsonObject:
        """``logging/setLevel`` goes to every enabled server; one that fails does not fail the others."""
        await asyncio.gather(
            *(self.forward(ex, a, ex.params) for a in ex.enabled_assignments), return_exceptions=True
        )
        return {"result": {}}

    def _unknown(
        self, ex: Exchange, message: str, reason: str, *, code: int = INVALID_PARAMS, **data: Any
    ) -> Refusal:
        """Refuse an unknown name, saying which servers this user cannot see yet and where to fix it."""
        principal = ex.access.principal
        refusals = [(a, resolve_access(a, self.public_url, principal)) for a in ex.access.assignments]
        hidden = [a.server.name for a, r in refusals if r is not None and "connect_url" in r.data]
        if hidden:
            names = ", ".join(repr(n) for n in hidden)
            url = connect_url(self.public_url, principal)
            message += f" (servers {names} need your identity first: {url})"
            data["connect_url"] = url
        return Refusal(code, message, reason, **data)

    async def forward(self, ex: Exchange, assignment: Assignment, params: JsonObject | None) -> JsonObject:
        """Carry ``ex.method`` with ``params`` to one server through the pipeline (steps, then the
        send within the deadline), recording its legs.

        Raises:
            JsonRpcError: refused by a step; -32010 server down, -32011 timeout, -32012 broken answer
                (reason ``response_too_large`` with its ``limit`` in bytes for one over the size
                limit); all name the server.
        """
        return await self.pipeline.carry(ex, Message(ex.method, params, assignment), self._send)

    async def _send(self, ex: Exchange, message: Message) -> JsonObject:
        """Send one message to its server and return the response (``pipeline.Send``)."""
        assert message.assignment is not None
        assignment, server = message.assignment, message.assignment.server.name
        client = self.pipeline.relaying(ex, message, ex.client)
        try:
            upstream = await self.connector.open(assignment, client)
            async with asyncio.timeout(self.connector.timeout):
                response = await upstream.request(message.method, message.params, client)
                if ex.era is Era.LEGACY and is_input_required(response):

                    async def retry(params: JsonObject) -> JsonObject:
                        again = Message(message.method, params, assignment)
                        await self.pipeline.inspect(ex, again)
                        return await upstream.request(again.method, again.params, client)

                    response = await drive_input_required(client.on_request, retry, message.params, response)
        except CredentialRefreshError as exc:
            raise self._reauthorize(ex, exc, server) from None
        except TimeoutError:
            message_text = f"server {server!r} did not answer within {self.connector.timeout:g}s"
            error = JsonRpcError(
                UPSTREAM_TIMEOUT, message_text, {"server": server, "reason": "upstream_timeout"}
            )
            raise SendError(error, "timeout") from None
        except UpstreamError as exc:
            raise SendError(_upstream_error(exc, server), str(exc), sent=exc.sent) from None
        return response

    def _reauthorize(self, ex: Exchange, exc: CredentialRefreshError, server: str) -> Refusal:
        reason = "identity_needs_reauthorization" if exc.needs_reauthorization else "identity_refresh_failed"
        if not exc.needs_reauthorization:
            return Refusal(IDENTITY_REQUIRED, str(exc), reason, server=server)
        url = connect_url(self.public_url, ex.access.principal)
        message = f"{exc}; authorize it again at {url}"
        return Refusal(IDENTITY_REQUIRED, message, reason, server=server, connect_url=url)


def _upstream_error(exc: UpstreamError, server: str) -> JsonRpcError:
    down = isinstance(exc, UpstreamUnavailableError)
    code, reason = (UPSTREAM_UNAVAILABLE, "server_down") if down else (UPSTREAM_FAILED, "upstream_error")
    data: dict[str, Any] = {"server": server, "reason": reason}
    if isinstance(exc, ResponseTooLargeError):
        data |= {"reason": "response_too_large", "limit": exc.limit}
    return JsonRpcError(code, str(exc), data)

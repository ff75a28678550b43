"""Forwarding one client message: decide where it goes, send it, relay the answer, record the legs.

The order of one forwarded call is the order of its audit legs: the endpoint records
``proxy_request``; ``forward`` records ``mcp_request`` and ``mcp_response`` around the upstream
exchange; the endpoint records ``proxy_response``. Steps that decide (routing, later provisioning and
rules) are pure and run before ``forward`` acts; a refusal records ``gateway_refused`` instead.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any
from urllib.parse import urlencode

from lockgate.dataplane.catalog import Catalog
from lockgate.dataplane.connector import Connector
from lockgate.dataplane.credentials import CredentialRefreshError
from lockgate.dataplane.errors import (
    IDENTITY_REQUIRED,
    INVALID_PARAMS,
    METHOD_NOT_FOUND,
    REFUSED,
    UPSTREAM_FAILED,
    UPSTREAM_TIMEOUT,
    UPSTREAM_UNAVAILABLE,
    JsonRpcError,
)
from lockgate.dataplane.exchange import Exchange
from lockgate.dataplane.mrtr import drive_input_required
from lockgate.dataplane.params import check_param_headers, upstream_param_headers
from lockgate.dataplane.routing import resolve_named, resolve_uri
from lockgate.domain.features import FeatureKind
from lockgate.domain.model import Assignment
from lockgate.policy.identities import resolve_identity_refusal
from lockgate.upstream.base import (
    Era,
    JsonObject,
    ResponseTooLargeError,
    UpstreamError,
    UpstreamUnavailableError,
)

log = logging.getLogger(__name__)
NAMED = {"tools/call": FeatureKind.TOOL, "prompts/get": FeatureKind.PROMPT}
BY_URI = ("resources/read", "resources/subscribe", "resources/unsubscribe")


def refusal(
    ex: Exchange, code: int, message: str, reason: str, *, http_status: int = 200, **data: Any
) -> JsonRpcError:
    """Record the ``gateway_refused`` leg and build the error to answer with."""
    ex.record("gateway_refused", server=data.get("server"), status=code, error=f"{reason}: {message}")
    return JsonRpcError(code, message, {"reason": reason, **data}, http_status=http_status)


def is_error_response(response: JsonObject) -> bool:
    """A JSON-RPC error, or a tool result flagged ``isError`` (MCP server/tools §Error Handling)."""
    result = response.get("result")
    return "error" in response or (isinstance(result, dict) and result.get("isError") is True)


class Forwarder:
    """Routes and forwards client messages to the gateway's servers.

    The connector's ``timeout`` is the upstream deadline in seconds for one call; past it the call is
    cancelled upstream and answered with -32011. Opening a connection first (starting a stdio server,
    the handshake) has its own deadline, ``connect_timeout``, so a cold start does not eat the call's.
    Names are routed with the catalog, which lists a server through the connector on first need.
    """

    def __init__(self, connector: Connector, catalog: Catalog, *, public_url: str = "") -> None:
        self.connector = connector
        self.catalog = catalog
        self.timeout = connector.timeout
        self.public_url = public_url

    async def handle(self, ex: Exchange) -> JsonObject:
        """The response (``result`` or ``error``) to a routed method.

        Raises:
            JsonRpcError: refused or failed; the legs are already recorded.
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
        raise refusal(ex, METHOD_NOT_FOUND, f"Method not found: {method}", "unknown_method")

    async def _call_named(self, ex: Exchange, kind: FeatureKind) -> JsonObject:
        params = ex.params or {}
        name = params.get("name")
        if not isinstance(name, str):
            raise refusal(ex, INVALID_PARAMS, f"{ex.method} needs a string 'name'", "invalid_params")
        ex.feature_name = name
        route = await resolve_named(
            self.catalog, self.connector.list_features, ex.access.assignments, kind, name, ex.client
        )
        noun = "tool" if kind is FeatureKind.TOOL else "prompt"
        if route is None:
            raise self._unknown(ex, f"Unknown {noun}: {name}", f"unknown_{noun}")
        self._refuse_disabled(ex, route.assignment)
        if kind is FeatureKind.TOOL:
            await self._mirror_param_headers(ex, route.assignment, route.upstream_name, params)
        upstream_params = params if route.upstream_name == name else {**params, "name": route.upstream_name}
        return await self.forward(ex, route.assignment, upstream_params)

    async def _mirror_param_headers(
        self, ex: Exchange, assignment: Assignment, tool: str, params: JsonObject
    ) -> None:
        """Check a modern client's ``Mcp-Param-*`` headers and prepare the upstream's."""
        try:
            list_features = self.connector.list_features
            annotated = await self.catalog.tool_params(assignment, tool, ex.client, list_features)
        except (UpstreamError, CredentialRefreshError) as exc:
            log.info("server %r could not list its tools' header parameters: %s", assignment.server.name, exc)
            annotated = {}
        arguments = params.get("arguments")
        if not annotated or not isinstance(arguments, dict):
            return
        if ex.era is Era.MODERN:
            try:
                check_param_headers(ex.headers, annotated, arguments)
            except JsonRpcError as exc:
                raise refusal(ex, exc.code, exc.message, "header_mismatch", http_status=400) from None
        ex.client.upstream_headers = upstream_param_headers(annotated, arguments)

    async def _call_by_uri(self, ex: Exchange) -> JsonObject:
        uri = (ex.params or {}).get("uri")
        if not isinstance(uri, str):
            raise refusal(ex, INVALID_PARAMS, f"{ex.method} needs a string 'uri'", "invalid_params")
        ex.feature_name = uri
        assignment = await resolve_uri(
            self.catalog, self.connector.list_features, ex.access.assignments, uri, ex.client
        )
        if assignment is None:
            code = INVALID_PARAMS if ex.era is Era.MODERN else -32002
            raise self._unknown(ex, f"Resource not found: {uri}", "unknown_resource", code=code, uri=uri)
        self._refuse_disabled(ex, assignment)
        return await self.forward(ex, assignment, ex.params)

    async def _complete(self, ex: Exchange) -> JsonObject:
        params = ex.params or {}
        ref = params.get("ref") or {}
        if ref.get("type") == "ref/prompt" and isinstance(ref.get("name"), str):
            ex.feature_name = ref["name"]
            route = await resolve_named(
                self.catalog,
                self.connector.list_features,
                ex.access.assignments,
                FeatureKind.PROMPT,
                ref["name"],
                ex.client,
            )
            if route is None:
                raise refusal(ex, INVALID_PARAMS, f"Unknown prompt: {ref['name']}", "unknown_prompt")
            self._refuse_disabled(ex, route.assignment)
            upstream_ref = {**ref, "name": route.upstream_name}
            return await self.forward(ex, route.assignment, {**params, "ref": upstream_ref})
        if ref.get("type") == "ref/resource" and isinstance(ref.get("uri"), str):
            ex.feature_name = ref["uri"]
            assignment = await resolve_uri(
                self.catalog, self.connector.list_features, ex.access.assignments, ref["uri"], ex.client
            )
            if assignment is None:
                raise refusal(ex, INVALID_PARAMS, f"Resource not found: {ref['uri']}", "unknown_resource")
            self._refuse_disabled(ex, assignment)
            return await self.forward(ex, assignment, params)
        raise refusal(
            ex, INVALID_PARAMS, "completion/complete needs a ref/prompt or ref/resource", "invalid_params"
        )

    async def _broadcast(self, ex: Exchange) -> JsonObject:
        """``logging/setLevel`` goes to every enabled server; one that fails does not fail the others."""
        await asyncio.gather(
            *(self.forward(ex, a, ex.params) for a in ex.enabled_assignments), return_exceptions=True
        )
        return {"result": {}}

    def _refuse_disabled(self, ex: Exchange, assignment: Assignment) -> None:
        name = assignment.server.name
        if not assignment.server.enabled:
            raise refusal(ex, REFUSED, f"server {name!r} is disabled", "server_disabled", server=name)
        refused = resolve_identity_refusal(assignment)
        if refused is not None:
            extra: dict[str, Any] = {"connect_url": self.connect_url(ex)} if refused.user_can_connect else {}
            message = refused.message + (f" (connect at {extra['connect_url']})" if extra else "")
            raise refusal(ex, IDENTITY_REQUIRED, message, refused.reason, server=name, **extra)

    def connect_url(self, ex: Exchange) -> str:
        """Where this user brings their identities for this gateway: the host's connection link."""
        principal = ex.access.principal
        query = urlencode({"gateway": principal.gateway})
        return f"{self.public_url}/connect/{principal.host_link_id}?{query}"

    def _unknown(
        self, ex: Exchange, message: str, reason: str, *, code: int = INVALID_PARAMS, **data: Any
    ) -> JsonRpcError:
        """Refuse an unknown name, saying which servers this user cannot see yet and where to fix it."""
        hidden = [
            a.server.name
            for a in ex.access.assignments
            if a.server.enabled and (r := resolve_identity_refusal(a)) is not None and r.user_can_connect
        ]
        if hidden:
            names = ", ".join(repr(n) for n in hidden)
            message += f" (servers {names} need your identity first: {self.connect_url(ex)})"
            data["connect_url"] = self.connect_url(ex)
        return refusal(ex, code, message, reason, **data)

    async def forward(self, ex: Exchange, assignment: Assignment, params: JsonObject | None) -> JsonObject:
        """Send ``ex.method`` with ``params`` to one server, within the deadline; record both legs.

        Raises:
            JsonRpcError: -32010 server down, -32011 timeout, -32012 broken answer (reason
                ``response_too_large`` with its ``limit`` in bytes for one over the size limit); all name
                the server.
        """
        server = assignment.server.name
        sent_at, t0 = time.time(), time.perf_counter()
        try:
            upstream = await self.connector.upstream_for(assignment, ex.client)
            if not upstream.is_open:
                await self.connector.connect(upstream, ex.client, server)
            async with asyncio.timeout(self.timeout):
                response = await upstream.request(ex.method, params, ex.client)
                if ex.era is Era.LEGACY and _input_required(response):
                    response = await drive_input_required(upstream, ex, params, response)
        except CredentialRefreshError as exc:
            reason = (
                "identity_needs_reauthorization" if exc.needs_reauthorization else "identity_refresh_failed"
            )
            message = str(exc)
            extra: dict[str, Any] = {}
            if exc.needs_reauthorization:
                extra["connect_url"] = self.connect_url(ex)
                message += f"; authorize it again at {extra['connect_url']}"
            raise refusal(ex, IDENTITY_REQUIRED, message, reason, server=server, **extra) from None
        except TimeoutError:
            self._legs(ex, server, sent_at, params, t0, None, "timeout")
            message = f"server {server!r} did not answer within {self.timeout:g}s"
            raise JsonRpcError(
                UPSTREAM_TIMEOUT, message, {"server": server, "reason": "upstream_timeout"}
            ) from None
        except UpstreamError as exc:
            down = isinstance(exc, UpstreamUnavailableError)
            self._legs(ex, server, sent_at, params, t0, None, str(exc), sent=getattr(exc, "sent", True))
            code, reason = (
                (UPSTREAM_UNAVAILABLE, "server_down") if down else (UPSTREAM_FAILED, "upstream_error")
            )
            data: dict[str, Any] = {"server": server, "reason": reason}
            if isinstance(exc, ResponseTooLargeError):
                data |= {"reason": "response_too_large", "limit": exc.limit}
            raise JsonRpcError(code, str(exc), data) from None
        self._legs(ex, server, sent_at, params, t0, response, None)
        return response

    def _legs(
        self,
        ex: Exchange,
        server: str,
        sent_at: float,
        params: JsonObject | None,
        t0: float,
        response: JsonObject | None,
        failure: str | None,
        *,
        sent: bool = True,
    ) -> None:
        duration = (time.perf_counter() - t0) * 1000
        ex.record(
            "mcp_request_success" if sent else "mcp_request_error",
            server=server,
            body=params,
            created_at=sent_at,
            error=None if sent else failure,
        )
        if not sent:
            return
        if response is None:
            ex.record("mcp_response_error", server=server, duration_ms=duration, error=failure)
            return
        error = response.get("error")
        ex.record(
            "mcp_response_error" if is_error_response(response) else "mcp_response_success",
            server=server,
            duration_ms=duration,
            status=error.get("code") if isinstance(error, dict) else None,
            body=response,
        )


def _input_required(response: JsonObject) -> bool:
    result = response.get("result")
    return isinstance(result, dict) and result.get("resultType") == "input_required"

"""The gateway's own request steps (``pipeline.Step``), in the order ``app.py`` lists them."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from lockgate.dataplane.access import resolve_access
from lockgate.dataplane.catalog import Catalog, ListFeatures
from lockgate.dataplane.credentials import CredentialRefreshError
from lockgate.dataplane.errors import JsonRpcError, Refusal
from lockgate.dataplane.exchange import Exchange
from lockgate.dataplane.params import check_param_headers, upstream_param_headers
from lockgate.dataplane.pipeline import Message
from lockgate.domain.mcp import Era
from lockgate.upstream.base import UpstreamError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ResolveAccess:
    """Refuse a message to a server this user may not reach now (``access.resolve_access``)."""

    public_url: str

    async def __call__(self, ex: Exchange, message: Message) -> None:
        if message.assignment is None or not message.to_server:
            return
        refused = resolve_access(message.assignment, self.public_url, ex.access.principal)
        if refused is not None:
            raise refused


@dataclass(frozen=True, slots=True)
class MirrorParamHeaders:
    """For ``tools/call``: check a modern client's ``Mcp-Param-*`` headers against the arguments the
    tool's definition (from the catalog) annotates with ``x-mcp-header``, and prepare the upstream's
    (MCP 2026-07-28 streamable-http §Custom headers). A mismatch is refused under HTTP 400 -32020.
    The annotated arguments are kept on the message (``Message.header_params``) for a later step
    that changes the arguments to prepare the upstream's headers again."""

    catalog: Catalog
    list_features: ListFeatures

    async def __call__(self, ex: Exchange, message: Message) -> None:
        params = message.params
        if message.method != "tools/call" or not message.to_server or not isinstance(params, dict):
            return
        tool, arguments = params.get("name"), params.get("arguments")
        if message.assignment is None or not isinstance(tool, str) or not isinstance(arguments, dict):
            return
        assignment = message.assignment
        try:
            annotated = await self.catalog.tool_params(assignment, tool, ex.client, self.list_features)
        except (UpstreamError, CredentialRefreshError) as exc:
            log.info("server %r could not list its tools' header parameters: %s", assignment.server.name, exc)
            return
        if not annotated:
            return
        message.header_params = annotated
        if ex.era is Era.MODERN:
            try:
                check_param_headers(ex.headers, annotated, arguments)
            except JsonRpcError as exc:
                raise Refusal(exc.code, exc.message, "header_mismatch", http_status=400) from None
        ex.client.upstream_headers = upstream_param_headers(annotated, arguments)

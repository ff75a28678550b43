"""Streamable HTTP servers of either era (MCP 2025-11-25 and 2026-07-28 basic/transports).

One keep-alive HTTP client (``http_client``) is shared by every HTTP upstream. Legacy servers
get one initialized ``Mcp-Session-Id`` per upstream, reused for every call, re-initialized when the
server forgets it (404), and a GET stream for notifications unrelated to any call. Modern servers
are stateless: every request carries its ``_meta`` and the ``Mcp-Method``/``Mcp-Name`` headers.

An answer under HTTP 4xx or 5xx whose body is a JSON-RPC error response is the server's answer to
the request, relayed as it is (its code, message and data); only an answer that is not JSON-RPC at
all is an ``UpstreamError``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator

import orjson

from lockgate.domain.mcp import Client, Era, JsonObject
from lockgate.domain.mcp_headers import encode_header_value
from lockgate.upstream.base import (
    OnServerNotification,
    ResponseTooLargeError,
    UpstreamError,
    UpstreamUnavailableError,
)
from lockgate.upstream.http_client import (
    BodyTooLargeError,
    ConnectError,
    HttpClient,
    HttpClientError,
    InvalidHeaderError,
    Response,
)
from lockgate.upstream.rpc import RpcPeer
from lockgate.upstream.session import RpcUpstream
from lockgate.upstream.sse_events import iter_events

log = logging.getLogger(__name__)
NAMED_METHODS = {"tools/call": "name", "prompts/get": "name", "resources/read": "uri"}
RESUME_ATTEMPTS = 3


def is_jsonrpc_error(reply: object) -> bool:
    """``reply`` is a JSON-RPC error response (JSON-RPC 2.0 §5.1: an ``error`` object with an integer
    ``code`` and a string ``message``), whatever HTTP status it came under: a server's answer to relay
    as it is (e.g. MCP 2026-07-28 server/resources: 400 with -32602 and ``data.uri``)."""
    if not isinstance(reply, dict) or "result" in reply:
        return False
    error = reply.get("error")
    return (
        isinstance(error, dict) and type(error.get("code")) is int and isinstance(error.get("message"), str)
    )


@contextlib.contextmanager
def http_failures(who: str) -> Iterator[None]:
    """HTTP client failures as upstream failures: no connection, or a header the client refused to
    write, means nothing was sent; an answer over the size limit is the server's fault
    (``ResponseTooLargeError``), not a lost connection."""
    try:
        yield
    except InvalidHeaderError as exc:
        refused = UpstreamError(f"{who} was not called: {exc}")
        refused.sent = False
        raise refused from exc
    except BodyTooLargeError as exc:
        raise ResponseTooLargeError(who, exc.limit) from exc
    except ConnectError as exc:
        error = UpstreamUnavailableError(f"{who} is unreachable: {exc}")
        error.sent = False
        raise error from exc
    except HttpClientError as exc:
        raise UpstreamUnavailableError(f"{who} failed mid-call: {exc}") from exc


class StreamableHttpUpstream(RpcUpstream):
    label = "server"

    def __init__(
        self,
        name: str,
        url: str,
        headers: dict[str, str],
        http: HttpClient,
        on_unrelated: OnServerNotification,
        era: Era | None = None,
        partition: int = 0,
    ) -> None:
        super().__init__(name, on_unrelated, era=era)
        self._url = url
        self._static_headers = dict(headers)
        self._http = http
        self._partition = partition  # the identity whose requests these are: keep-alive is not shared
        self._session_id: str | None = None
        self._protocol_version: str | None = None
        self._get_stream: asyncio.Task[None] | None = None

    def _cancels_by_notification(self) -> bool:
        return self.era is Era.LEGACY

    def _negotiated(self, version: str | None) -> None:
        self._protocol_version = version

    async def _open(self) -> None:
        self._session_id = None
        self._protocol_version = None

    async def _handshake(self, peer: RpcPeer, client: Client) -> None:
        await super()._handshake(peer, client)
        if self.era is Era.LEGACY and self._session_id and self._get_stream is None:
            self._get_stream = asyncio.create_task(self._listen_unrelated())

    def _headers(self, message: JsonObject) -> dict[str, str]:
        headers = {
            **self._static_headers,
            "Content-Type": "application/json",
            "Accept": "application/json, text/event-stream",
        }
        method = message.get("method")
        if self.era is Era.MODERN or method == "server/discover":
            headers["MCP-Protocol-Version"] = Era.MODERN.value
            if method:
                headers["Mcp-Method"] = method
                key = NAMED_METHODS.get(method)
                name = (message.get("params") or {}).get(key) if key else None
                if isinstance(name, str):
                    headers["Mcp-Name"] = encode_header_value(name)
            return headers
        if self._protocol_version:
            headers["MCP-Protocol-Version"] = self._protocol_version
        if self._session_id:
            headers["Mcp-Session-Id"] = self._session_id
        return headers

    async def _send(self, message: JsonObject, client: Client | None = None) -> None:
        with http_failures(f"server {self.name!r}"):
            await self._post(message, client.upstream_headers if client else None)

    async def _post(self, message: JsonObject, extra: dict[str, str] | None) -> None:
        body = orjson.dumps(message)
        headers = self._headers(message) | extra if extra else self._headers(message)
        async with self._http.request("POST", self._url, headers, body, self._partition) as response:
            if response.status == 404 and self._session_id and message.get("method") != "initialize":
                self._lost(f"server {self.name!r} ended the session; it is re-initialized on the next call")
                raise UpstreamUnavailableError(f"server {self.name!r} ended its session")
            if message.get("method") == "initialize" and "mcp-session-id" in response.headers:
                self._session_id = response.headers["mcp-session-id"]
            if response.status == 202 or "id" not in message or "method" not in message:
                return
            await self._read_reply(response, message["id"])

    async def _read_reply(self, response: Response, request_id: int) -> None:
        content_type = response.headers.get("content-type", "")
        peer = self._peer
        if response.status >= 400 and "application/json" not in content_type:
            raise UpstreamError(f"server {self.name!r} answered HTTP {response.status}")
        if "text/event-stream" in content_type:
            await self._read_stream(response, request_id)
            return
        raw = await response.read()
        try:
            reply = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise UpstreamError(f"server {self.name!r} answered HTTP {response.status} without JSON") from exc
        if response.status >= 400 and not is_jsonrpc_error(reply):
            raise UpstreamError(f"server {self.name!r} answered HTTP {response.status}")
        if peer is not None and isinstance(reply, dict):
            if response.status >= 400 or (reply.get("id") is None and "error" in reply):
                # The error answers this POST's request: some servers leave the id out (or put their
                # own) when they refuse a request before reading it.
                reply["id"] = request_id
            await peer.receive(reply, related=request_id)

    async def _read_stream(self, response: Response, request_id: int) -> None:
        """Pump one POST's SSE stream; resume with GET + Last-Event-ID if it ends early (legacy only)."""
        last_id = await self._pump(response, request_id)
        for _ in range(RESUME_ATTEMPTS):
            if self._answered(request_id) or last_id is None or self.era is Era.MODERN:
                return
            headers = self._headers({}) | {"Accept": "text/event-stream", "Last-Event-ID": last_id}
            async with self._http.request("GET", self._url, headers, partition=self._partition) as resumed:
                if resumed.status != 200:
                    break
                last_id = await self._pump(resumed, request_id) or last_id
        if not self._answered(request_id):
            raise UpstreamUnavailableError(f"server {self.name!r} closed the stream before answering")

    def _answered(self, request_id: int) -> bool:
        peer = self._peer
        return peer is None or not peer.waiting_for(request_id)

    async def _pump(self, response: Response, request_id: int) -> str | None:
        last_id = None
        async for event in iter_events(response, response.max_bytes):
            last_id = event.id or last_id
            if not event.data:
                continue
            peer = self._peer
            try:
                message = orjson.loads(event.data)
            except orjson.JSONDecodeError:
                raise UpstreamError(f"server {self.name!r} sent an event that is not JSON") from None
            if peer is not None and isinstance(message, dict):
                await peer.receive(message, related=request_id)
            if self._answered(request_id):
                break
        return last_id

    async def _listen_unrelated(self) -> None:
        """The legacy GET stream: notifications and requests unrelated to any call."""
        while self._peer is not None and self._session_id:
            try:
                headers = self._headers({}) | {"Accept": "text/event-stream"}
                async with self._http.request("GET", self._url, headers, partition=self._partition) as r:
                    if r.status != 200:
                        return  # 405: the server offers no such stream
                    async for event in iter_events(r, r.max_bytes):
                        peer = self._peer
                        if event.data and peer is not None:
                            await peer.receive(orjson.loads(event.data))
            except BodyTooLargeError as exc:
                log.warning(
                    "GET stream of %s sent an event over %d bytes; reconnecting", self.name, exc.limit
                )
            except (HttpClientError, orjson.JSONDecodeError) as exc:
                log.debug("GET stream of %s ended: %s", self.name, exc)
            await asyncio.sleep(1)  # reconnect back-off, not a wait for an event

    async def _shutdown(self) -> None:
        task, self._get_stream = self._get_stream, None
        if task is not None:
            task.cancel()
        session_id, self._session_id = self._session_id, None
        if session_id and self.era is Era.LEGACY:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2):
                    headers = {**self._static_headers, "Mcp-Session-Id": session_id}
                    async with self._http.request("DELETE", self._url, headers, partition=self._partition):
                        pass

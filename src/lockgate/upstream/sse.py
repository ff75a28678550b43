"""Servers on the deprecated HTTP+SSE transport (MCP 2024-11-05 basic/transports).

A GET opens the event stream; its first ``endpoint`` event names the URL to POST messages to; every
reply arrives on the stream. Legacy era only. A POST refused under HTTP 4xx or 5xx with a JSON-RPC
error response as its body is answered with that error, as it is.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from urllib.parse import urljoin, urlsplit

import orjson

from lockgate.domain.mcp import Client, Era, JsonObject
from lockgate.upstream.base import (
    OnServerNotification,
    ResponseTooLargeError,
    UpstreamError,
    UpstreamUnavailableError,
)
from lockgate.upstream.http import http_failures, is_jsonrpc_error
from lockgate.upstream.http_client import BodyTooLargeError, HttpClient, HttpClientError
from lockgate.upstream.session import RpcUpstream
from lockgate.upstream.sse_events import iter_events

log = logging.getLogger(__name__)


class SseUpstream(RpcUpstream):
    label = "sse server"

    def __init__(
        self,
        name: str,
        url: str,
        headers: dict[str, str],
        http: HttpClient,
        on_unrelated: OnServerNotification,
        partition: int = 0,
    ) -> None:
        super().__init__(name, on_unrelated, era=Era.LEGACY)
        self._url = url
        self._headers = dict(headers)
        self._http = http
        self._partition = partition  # the identity whose requests these are: keep-alive is not shared
        self._endpoint: str | None = None
        self._reader: asyncio.Task[None] | None = None

    async def _open(self) -> None:
        loop = asyncio.get_running_loop()
        endpoint: asyncio.Future[str] = loop.create_future()
        self._reader = asyncio.create_task(self._read(endpoint))
        try:
            async with asyncio.timeout(10):
                self._endpoint = await endpoint
        except TimeoutError as exc:
            raise UpstreamUnavailableError(f"sse server {self.name!r} sent no endpoint event") from exc

    async def _read(self, endpoint: asyncio.Future[str]) -> None:
        reason = "closed its event stream"
        error: UpstreamError | None = None
        try:
            headers = self._headers | {"Accept": "text/event-stream"}
            async with self._http.request("GET", self._url, headers, partition=self._partition) as response:
                if response.status != 200:
                    raise UpstreamUnavailableError(
                        f"sse server {self.name!r} answered HTTP {response.status}"
                    )
                async for event in iter_events(response, response.max_bytes):
                    if event.event == "endpoint" and not endpoint.done():
                        endpoint.set_result(self._same_origin(event.data))
                    elif event.event == "message" and event.data and self._peer is not None:
                        await self._peer.receive(orjson.loads(event.data))
        except BodyTooLargeError as exc:
            # The stream cannot be resynchronized past an event it did not read: every call waiting
            # on it fails with the size error, and the next call opens a new stream.
            log.warning("sse server %s sent an event over %d bytes; reconnecting", self.name, exc.limit)
            error = ResponseTooLargeError(f"sse server {self.name!r}", exc.limit)
        except (HttpClientError, UpstreamError, orjson.JSONDecodeError) as exc:
            reason = f"is unreachable: {exc}"
        if not endpoint.done():
            endpoint.set_exception(error or UpstreamUnavailableError(f"sse server {self.name!r} {reason}"))
        self._lost(f"sse server {self.name!r} {reason}", error)

    def _same_origin(self, path: str) -> str:
        """The POST endpoint, refused unless it stays on the server's origin (no redirect of our messages)."""
        url = urljoin(self._url, path)
        if urlsplit(url)[:2] != urlsplit(self._url)[:2]:
            raise UpstreamError(f"sse server {self.name!r} named an endpoint on another origin")
        return url

    async def _send(self, message: JsonObject, client: Client | None = None) -> None:
        if self._endpoint is None:
            raise UpstreamUnavailableError(f"sse server {self.name!r} is not connected")
        headers = self._headers | {"Content-Type": "application/json"}
        with http_failures(f"sse server {self.name!r}"):
            async with self._http.request(
                "POST", self._endpoint, headers, orjson.dumps(message), self._partition
            ) as response:
                body = await response.read()
        if response.status < 400:
            return
        with contextlib.suppress(orjson.JSONDecodeError):
            reply = orjson.loads(body)
            if "id" in message and "method" in message and is_jsonrpc_error(reply) and self._peer:
                await self._peer.receive({**reply, "id": message["id"]})  # the server refused this request
                return
        raise UpstreamError(f"sse server {self.name!r} answered HTTP {response.status}")

    async def _shutdown(self) -> None:
        reader, self._reader = self._reader, None
        self._endpoint = None
        if reader is not None:
            reader.cancel()
            with contextlib.suppress(BaseException):
                await reader

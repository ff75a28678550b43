"""The HTTP listener's bounds on clients, on top of uvicorn's httptools protocol.

uvicorn (0.55) closes idle keep-alive connections (``timeout_keep_alive``) and answers 503 past
``limit_concurrency`` connections or requests, but it has no deadline for *reading* a request — a
client that sends its headers a byte at a time (slowloris) or never finishes
its body holds its connection forever — and its httptools parser puts no bound on the size of the
headers (its h11 setting ``h11_max_incomplete_event_size`` does not apply to httptools).
``BoundedHttpProtocol`` adds both:

* **read deadline**: from a connection's first moment, and from the first byte of each later
  request on it, the whole request (headers and body) must arrive within ``read_timeout`` seconds.
  Past it the connection is closed, after a ``408 Request Timeout`` (RFC 9110 §15.5.9) while the
  headers are still incomplete; an application reading the body sees ``http.disconnect``.
* **header size**: more than ``max_header_bytes`` before the headers end is answered ``431 Request
  Header Fields Too Large`` (RFC 6585 §5) and the connection closed.

A long response (an SSE stream) is not bounded here: once a request is read, its deadline is off.
Per-client limits (connections per address, request rates) belong to a reverse proxy in front.
"""

from __future__ import annotations

import asyncio
import logging

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger(__name__)
REQUEST_TIMEOUT = b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
HEADERS_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
)


class BoundedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a read deadline and a header size bound (see the module)."""

    read_timeout: float = 30.0  # seconds
    max_header_bytes: int = 64 * 1024

    @classmethod
    def bounded(cls, read_timeout: float, max_header_bytes: int) -> type[BoundedHttpProtocol]:
        """This protocol with the given bounds, as the class uvicorn's ``http`` option takes."""
        bounds = {"read_timeout": read_timeout, "max_header_bytes": max_header_bytes}
        return type(cls.__name__, (cls,), bounds)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._deadline: asyncio.TimerHandle | None = None
        self._in_head, self._refused = True, False
        self._head_parsed = 0  # bytes of the URL and the complete header lines
        self._head_pending = 0  # bytes received while the head was still incomplete
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        self._arm()  # a later request on a kept-alive connection: its clock starts with its first byte
        super().data_received(data)
        if self._in_head and not self.transport.is_closing():
            self._head_pending += len(data)  # a head that never ends is never parsed: count it raw
            if self._head_pending > self.max_header_bytes:
                self._refuse(HEADERS_TOO_LARGE, "headers over %d bytes", self.max_header_bytes)

    def on_message_begin(self) -> None:
        self._in_head, self._head_parsed, self._head_pending = True, 0, 0
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        self._head_parsed += len(url)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_parsed += len(name) + len(value) + 4  # ": " and CRLF
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        if self._head_parsed > self.max_header_bytes:
            self._refuse(HEADERS_TOO_LARGE, "headers over %d bytes", self.max_header_bytes)
            return  # the application never sees this request
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self._refused:
            return
        super().on_message_complete()
        self._disarm()

    def _arm(self) -> None:
        if self._deadline is None:
            self._deadline = self.loop.call_later(self.read_timeout, self._on_read_timeout)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _on_read_timeout(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if self._in_head:
            self._refuse(REQUEST_TIMEOUT, "no complete request within %gs", self.read_timeout)
        else:
            log.info("closing a connection whose request body did not arrive within %gs", self.read_timeout)
            self.transport.close()

    def _refuse(self, response: bytes, reason: str, *args: object) -> None:
        log.info("closing a connection: " + reason, *args)
        self._refused = True
        self._disarm()
        self.transport.write(response)
        self.transport.close()

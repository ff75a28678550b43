"""The listener ``lockgate serve`` runs (``listener_config``): a client too slow to send its request,
or sending too large a head, loses its connection; connections past the cap get 503; everyone else
is served meanwhile. Raw sockets, because the point is what well-behaved clients never send."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from lockgate.cli.serve import listener_config
from lockgate.settings import Settings
from tests.conftest import DEADLINE, free_port

READ_TIMEOUT = 0.5
HEAD = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n"


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = threading.Event()

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets)
        self.ready.set()


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Reads the whole body, then answers 200 with its length; nothing for a client that left."""
    if scope["type"] != "http":
        return
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        size += len(message.get("body", b""))
        if not message.get("more_body"):
            break
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-length", b"%d" % len(str(size)))],
        }
    )
    await send({"type": "http.response.body", "body": str(size).encode()})


@contextlib.contextmanager
def listening(tmp_path: Path, **bounds: Any) -> Iterator[int]:
    settings = Settings(data_dir=tmp_path, port=free_port(), request_read_timeout=READ_TIMEOUT, **bounds)
    config = listener_config(settings, app)
    config.log_level = "warning"
    server = _Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    assert server.ready.wait(DEADLINE), "the listener did not start"
    try:
        yield settings.port
    finally:
        server.should_exit = True
        thread.join(DEADLINE)


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)
    return sock


def read_all(sock: socket.socket) -> bytes:
    """Everything until the server closes the connection (the socket's timeout is the deadline)."""
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def request(port: int, head: bytes = HEAD, body: bytes = b"") -> bytes:
    with connect(port) as sock:
        sock.sendall(head + b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
        return read_all(sock)


def test_a_client_that_never_finishes_its_headers_gets_408_and_is_disconnected_while_others_are_served(
    tmp_path: Path,
) -> None:
    with listening(tmp_path) as port, connect(port) as slow, connect(port) as silent:
        slow.sendall(HEAD[:20])
        assert request(port).startswith(b"HTTP/1.1 200")
        assert read_all(slow).startswith(b"HTTP/1.1 408 Request Timeout")
        assert read_all(silent).startswith(b"HTTP/1.1 408")  # connected, never sent a byte


def test_a_body_that_never_arrives_ends_the_connection_at_the_deadline(tmp_path: Path) -> None:
    with listening(tmp_path) as port, connect(port) as slow:
        slow.sendall(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n" + b"x" * 10)
        assert read_all(slow) == b""
        assert request(port, b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n", b"x" * 100).endswith(b"\r\n\r\n100")


def test_a_kept_alive_connection_gets_a_fresh_deadline_for_each_request(tmp_path: Path) -> None:
    with listening(tmp_path, keep_alive_timeout=30) as port, connect(port) as sock:
        for _ in range(2):
            sock.sendall(HEAD + b"\r\n")
            assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        sock.sendall(HEAD)  # then a third request that stalls in its headers
        assert read_all(sock).startswith(b"HTTP/1.1 408")


def test_a_request_head_over_the_bound_is_answered_431(tmp_path: Path) -> None:
    with listening(tmp_path, max_header_bytes=1024) as port:
        assert request(port, HEAD + b"X-Filler: " + b"f" * 2048 + b"\r\n").startswith(b"HTTP/1.1 431")
        assert request(port, HEAD + b"X-Filler: " + b"f" * 512 + b"\r\n").startswith(b"HTTP/1.1 200")


def test_a_request_on_the_connection_that_reaches_the_cap_is_answered_503(tmp_path: Path) -> None:
    with listening(tmp_path, max_connections=3) as port, connect(port):
        assert request(port).startswith(b"HTTP/1.1 200")  # two connections open, this one included
        with connect(port):
            assert request(port).startswith(b"HTTP/1.1 503 Service Unavailable")


@pytest.mark.parametrize(
    "name", ["request_read_timeout", "max_header_bytes", "keep_alive_timeout", "max_connections"]
)
def test_each_listener_bound_is_a_positive_setting(name: str) -> None:
    with pytest.raises(ValueError, match=name):
        Settings(**{name: 0})

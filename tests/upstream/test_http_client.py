"""The lean HTTP/1.1 client: keep-alive reuse, every body framing, streaming, and its failures."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

import anyio
import pytest

from lockgate.egress import parse_networks
from lockgate.upstream.http_client import (
    ConnectError,
    HttpClient,
    HttpClientError,
    InvalidHeaderError,
    RefusedError,
)
from tests.conftest import free_port

pytestmark = pytest.mark.anyio
Handler = Callable[[bytes, asyncio.StreamWriter], None]


async def serve(handler: Handler) -> tuple[asyncio.Server, list[int]]:
    """A raw HTTP server: calls ``handler(request_head, writer)`` per request; counts connections."""
    connections: list[int] = []

    async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            length = int(
                next(h.split(b":")[1] for h in head.split(b"\r\n") if h.lower().startswith(b"content-length"))
            )
            await reader.readexactly(length)
            handler(head, writer)
            if writer.is_closing():
                return
            await writer.drain()

    return await asyncio.start_server(on_connection, "127.0.0.1", 0), connections


def url(server: asyncio.Server) -> str:
    return f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/mcp"


def json_reply(_head: bytes, writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")


async def test_sequential_requests_reuse_one_keep_alive_connection() -> None:
    server, connections = await serve(json_reply)
    client = HttpClient()
    for _ in range(5):
        async with client.request("POST", url(server), {"X-A": "1"}, b"{}") as response:
            assert response.status == 200 and response.headers["content-type"] == "application/json"
            assert await response.read() == b"{}"
    assert len(connections) == 1
    await client.close()
    server.close()


async def test_a_chunked_body_streams_chunk_by_chunk() -> None:
    def chunked(_head: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        writer.write(b"6\r\ndata: \r\n3\r\n1\n\n\r\n0\r\n\r\n")

    server, _ = await serve(chunked)
    client = HttpClient()
    async with client.request("GET", url(server), {}) as response:
        assert b"".join([chunk async for chunk in response]) == b"data: 1\n\n"
    await client.close()
    server.close()


async def test_an_unread_body_closes_the_connection_instead_of_reusing_it() -> None:
    server, connections = await serve(json_reply)
    client = HttpClient()
    for _ in range(2):
        async with client.request("POST", url(server), {}, b"{}") as response:
            assert response.status == 200  # body left unread
    assert len(connections) == 2
    await client.close()
    server.close()


async def test_a_refused_connection_is_a_connect_error_that_names_no_address() -> None:
    client = HttpClient()
    port = free_port()
    with pytest.raises(ConnectError) as failed:
        async with client.request("POST", f"http://127.0.0.1:{port}/mcp", {}, b"{}"):
            pass
    assert "127.0.0.1" not in str(failed.value) and str(port) not in str(failed.value)
    assert "refused" in str(failed.value)


class Resolver:
    """A fake DNS: ``table`` maps names to addresses; ``looked_up`` records each name asked for."""

    def __init__(self, table: dict[str, Sequence[str]]) -> None:
        self.table = table
        self.looked_up: list[str] = []

    async def __call__(self, host: str, _port: int) -> Sequence[str]:
        self.looked_up.append(host)
        return self.table[host]


@pytest.mark.parametrize(
    "address", ["169.254.169.254", "10.0.0.1", "fd00:ec2::254", "::ffff:169.254.169.254"]
)
async def test_a_name_that_resolves_outside_the_allowed_networks_is_refused_before_connecting(
    address: str,
) -> None:
    client = HttpClient(resolve=Resolver({"rebound.example": [address]}))
    with pytest.raises(RefusedError) as refused:
        async with client.request("POST", "http://rebound.example/mcp", {}, b"{}"):
            pass
    assert "server_allowed_networks" in str(refused.value) and address not in str(refused.value)


async def test_loopback_is_refused_once_the_allowed_networks_leave_it_out() -> None:
    server, connections = await serve(json_reply)
    client = HttpClient(parse_networks(["10.0.0.0/8"]))
    with pytest.raises(RefusedError):
        async with client.request("POST", url(server), {}, b"{}"):
            pass
    assert connections == []
    server.close()


async def test_the_connection_goes_to_the_address_checked_not_to_a_second_lookup() -> None:
    server, connections = await serve(json_reply)
    port = server.sockets[0].getsockname()[1]
    resolve = Resolver({"mcp.internal": ["127.0.0.1"]})
    client = HttpClient(resolve=resolve)
    async with client.request("POST", f"http://mcp.internal:{port}/mcp", {}, b"{}") as response:
        assert await response.read() == b"{}"
    assert resolve.looked_up == ["mcp.internal"] and len(connections) == 1
    await client.close()
    server.close()


async def test_a_connection_closed_mid_response_is_an_error() -> None:
    def cut(_head: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{}")
        writer.close()

    server, _ = await serve(cut)
    client = HttpClient()
    with anyio.fail_after(5), pytest.raises(HttpClientError):
        async with client.request("POST", url(server), {}, b"{}") as response:
            await response.read()
    await client.close()
    server.close()


async def test_an_idle_connection_the_server_closed_is_replaced_transparently() -> None:
    replies: list[int] = []

    def once_then_close(_head: bytes, writer: asyncio.StreamWriter) -> None:
        json_reply(_head, writer)
        replies.append(1)
        writer.close()  # keep-alive was advertised, but the server hangs up after answering

    server, connections = await serve(once_then_close)
    client = HttpClient()
    for _ in range(3):
        async with client.request("POST", url(server), {}, b"{}") as response:
            assert await response.read() == b"{}"
    assert len(replies) == 3 and len(connections) == 3
    await client.close()
    server.close()


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Api-Key": "k\r\nHost: attacker.example"},
        {"X-Api-Key": "k\n\r\nGET /admin HTTP/1.1"},
        {"X-Api-Key": "k\x00"},
        {"X-Api-Key": "ké"},
        {"Host": "attacker.example"},
        {"content-length": "0"},
        {"Transfer-Encoding": "chunked"},
        {"Connection": "close"},
        {"X Api Key": "k"},
        {"X-Api-Key:": "k"},
    ],
)
async def test_the_client_refuses_to_write_a_header_that_would_change_the_framing(
    headers: dict[str, str],
) -> None:
    server, connections = await serve(json_reply)
    client = HttpClient()
    with pytest.raises(InvalidHeaderError) as refused:
        async with client.request("POST", url(server), headers, b"{}"):
            pass
    assert "attacker" not in str(refused.value) and "GET /admin" not in str(refused.value)
    assert connections == []  # nothing was sent, not even a connection opened
    await client.close()
    server.close()


async def test_idle_connections_are_reused_only_within_their_partition() -> None:
    server, connections = await serve(json_reply)
    client = HttpClient()
    for partition in (1, 2, 1, 2, 1):
        async with client.request("POST", url(server), {}, b"{}", partition) as response:
            await response.read()
    assert len(connections) == 2
    await client.close()
    server.close()


@pytest.mark.parametrize("host", ["2852039166", "0xa9fea9fe", "0251.0376.0251.0376", "169.254.43518"])
async def test_an_address_spelled_as_a_number_is_judged_by_what_it_resolves_to(host: str) -> None:
    client = HttpClient()  # the system resolver: inet_aton reads each of these as 169.254.169.254
    with pytest.raises(RefusedError, match="link-local"):
        async with client.request("POST", f"http://{host}/mcp", {}, b"{}"):
            pass

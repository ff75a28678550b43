"""A loopback-only HTTP/1.1 forwarder that adds one header to every request, and changes nothing else.

The conformance CLI (`conformance server`) has no option for extra request headers, and Lockgate's MCP
endpoint needs `Authorization: Bearer <token>`. This sits between them: it parses only request heads and
body framing (Content-Length or chunked) so it can insert the header line, forwards every other byte as
received (Host and Origin included, so `dns-rebinding-protection` still reaches the gateway), and pipes
responses back untouched, so SSE streams flow as they are written.

Run: `LOCKGATE_CONFORMANCE_HEADER='Authorization: Bearer …' python -m tests.conformance.shim
--port LISTEN --upstream-port GATEWAY`.
"""

import argparse
import asyncio
import contextlib
import os

HEADER_ENV = "LOCKGATE_CONFORMANCE_HEADER"
HEAD_LIMIT = 1 << 20


def insert_header(head: bytes, header: bytes) -> bytes:
    """The request head with `header` added as the first header line."""
    request_line, _, rest = head.partition(b"\r\n")
    return request_line + b"\r\n" + header + b"\r\n" + rest


def body_framing(head: bytes) -> tuple[str, int]:
    """("chunked", 0), ("length", n) or ("none", 0) for a request head."""
    framing: tuple[str, int] = ("none", 0)
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"transfer-encoding" and b"chunked" in value.lower():
            return ("chunked", 0)
        if name == b"content-length":
            framing = ("length", int(value.strip()))
    return framing


async def forward_body(head: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    kind, length = body_framing(head)
    if kind == "length":
        writer.write(await reader.readexactly(length))
    while kind == "chunked":
        size_line = await reader.readuntil(b"\r\n")
        writer.write(size_line)
        size = int(size_line.split(b";")[0].strip(), 16)
        if size == 0:
            while (trailer := await reader.readuntil(b"\r\n")) != b"\r\n":
                writer.write(trailer)
            writer.write(trailer)
            break
        writer.write(await reader.readexactly(size + 2))
    await writer.drain()


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    writer.close()


async def serve_connection(
    client: tuple[asyncio.StreamReader, asyncio.StreamWriter], upstream_port: int, header: bytes
) -> None:
    client_reader, client_writer = client
    upstream_reader, upstream_writer = await asyncio.open_connection(
        "127.0.0.1", upstream_port, limit=HEAD_LIMIT
    )
    responses = asyncio.create_task(pipe(upstream_reader, client_writer))
    try:
        while True:
            head = await client_reader.readuntil(b"\r\n\r\n")
            upstream_writer.write(insert_header(head, header))
            await forward_body(head, client_reader, upstream_writer)
    except (asyncio.IncompleteReadError, ConnectionError):
        pass  # the client closed its side
    finally:
        upstream_writer.close()
        await asyncio.wait([responses], timeout=5)
        client_writer.close()


async def serve(port: int, upstream_port: int, header: bytes) -> None:
    async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await serve_connection((reader, writer), upstream_port, header)

    server = await asyncio.start_server(on_connection, "127.0.0.1", port, limit=HEAD_LIMIT)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream-port", type=int, required=True)
    args = parser.parse_args(argv)
    header = os.environ[HEADER_ENV].encode("latin-1")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.port, args.upstream_port, header))


if __name__ == "__main__":
    main()

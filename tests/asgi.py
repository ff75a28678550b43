"""An ASGI app run in process, as a server runs it but without a socket: its lifespan on an event
loop in a thread of its own, and a synchronous httpx transport that hands each request to the app on
that loop through httpx's ``ASGITransport``.

``ASGITransport`` answers once the app has sent the whole response, so a stream that stays open (an
MCP client's SSE stream) needs a real socket; so do the Python SDK's client, browsers and
subprocesses.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator

import anyio
import anyio.from_thread
import httpx
from starlette.types import ASGIApp, Message, Scope


@contextlib.asynccontextmanager
async def lifespan(app: ASGIApp, deadline: float) -> AsyncIterator[None]:
    """Runs ``app``'s lifespan (ASGI lifespan protocol 2.0): startup before the block, shutdown after.

    Raises:
        AssertionError: the app reported ``lifespan.startup.failed`` or ``lifespan.shutdown.failed``.
        TimeoutError: a phase took longer than ``deadline`` seconds.
    """
    to_app, app_receives = anyio.create_memory_object_stream[Message](1)
    app_sends, from_app = anyio.create_memory_object_stream[Message](1)

    async def step(phase: str) -> None:
        await to_app.send({"type": f"lifespan.{phase}"})
        with anyio.fail_after(deadline):
            answer = await from_app.receive()
        assert answer["type"] == f"lifespan.{phase}.complete", answer

    async def run() -> None:
        scope: Scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": {}}
        await app(scope, app_receives.receive, app_sends.send)

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(run)
        await step("startup")
        try:
            yield
        finally:
            await step("shutdown")


class AppTransport(httpx.BaseTransport):
    """Hands each request for ``origin`` to ``app`` on ``loop`` (another thread's) and returns the
    whole response; a request for any other origin fails with ``httpx.ConnectError``, as a socket with
    no one listening would, so a wrong URL is never answered by the app. An exception the app raises
    before answering is a 500, as a server makes it."""

    def __init__(self, app: ASGIApp, loop: asyncio.AbstractEventLoop, origin: str, deadline: float) -> None:
        self.loop = loop
        self._asgi = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        self._origin = httpx.URL(origin)
        self._deadline = deadline

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url, origin = request.url, self._origin
        if (url.scheme, url.host, url.port) != (origin.scheme, origin.host, origin.port):
            where = f"{url.scheme}://{url.netloc.decode()}"
            raise httpx.ConnectError(f"nothing listens at {where}", request=request)
        request.read()  # the body as bytes, which the app's loop can read
        return asyncio.run_coroutine_threadsafe(self._send(request), self.loop).result(self._deadline)

    async def _send(self, request: httpx.Request) -> httpx.Response:
        response = await self._asgi.handle_async_request(request)
        body = b"".join([part async for part in response.stream])  # type: ignore[union-attr]
        return httpx.Response(response.status_code, headers=response.headers, content=body)


@contextlib.contextmanager
def started(app: ASGIApp, origin: str, deadline: float) -> Iterator[AppTransport]:
    """``app`` with its lifespan started on an event loop in a thread of its own until the block ends,
    reached at ``origin`` (``http://host:port``) through the transport yielded."""
    with (
        anyio.from_thread.start_blocking_portal() as portal,
        portal.wrap_async_context_manager(lifespan(app, deadline)),
    ):
        yield AppTransport(app, portal.call(asyncio.get_running_loop), origin, deadline)

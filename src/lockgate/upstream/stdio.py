"""stdio servers: a supervised subprocess speaking newline-delimited JSON-RPC (MCP basic/transports/stdio).

Started on the first request, restarted on the next request after it exits, shut down by closing
stdin, then SIGTERM, then SIGKILL. Its stderr is kept (the last lines) and logged at debug level. Its
environment is explicit: only ``PATH``, ``HOME``, ``LANG``, the variables of the calling identity
that the server declares for identities (``identity_env``), and the server's own variables, which
nothing overrides. An identity's values are data: one that would set any other variable (a loader's
or an interpreter's, ``lockgate.domain.upstream_values``) keeps the server from starting.

Each stdout line (one message) may take at most ``max_line_bytes``. A longer line cannot be skipped
safely (the stream has no other framing), so it is logged without its content, every call in flight
fails with ``ResponseTooLargeError`` (-32012) and the process is stopped; the next call starts it again.
A longer stderr line is dropped. Anything else that ends the reader also ends the process, so a call
never waits for an answer that nobody reads.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
from collections.abc import Collection, Mapping

import orjson

from lockgate.domain.mcp import Client, JsonObject
from lockgate.domain.upstream_values import UpstreamValueError, check_identity_env, check_server_env
from lockgate.upstream.base import (
    MAX_MESSAGE_BYTES,
    OnServerNotification,
    ResponseTooLargeError,
    UpstreamError,
    UpstreamUnavailableError,
)
from lockgate.upstream.session import RpcUpstream

log = logging.getLogger(__name__)
INHERITED_ENV = ("PATH", "HOME", "LANG")
STDERR_LINES = 200


def server_environment(
    declared: Mapping[str, str],
    identity: Mapping[str, str] | None = None,
    identity_env: Collection[str] = (),
) -> dict[str, str]:
    """The environment a stdio server starts with: ``INHERITED_ENV`` from the gateway's process, the
    identity's variables, then the server's own ``declared`` ones on top.

    Raises:
        UpstreamValueError: the identity sets a variable outside ``identity_env`` or one no identity
            may set, or a value holds a control character (the message names the variable, not its value).
    """
    check_server_env(declared)
    check_identity_env(identity or {}, identity_env)
    base = {k: os.environ[k] for k in INHERITED_ENV if k in os.environ}
    return base | dict(identity or {}) | dict(declared)


class StdioUpstream(RpcUpstream):
    label = "stdio server"

    def __init__(
        self,
        name: str,
        command: str,
        args: tuple[str, ...],
        env: Mapping[str, str],
        cwd: str | None,
        on_unrelated: OnServerNotification,
        identity: Mapping[str, str] | None = None,
        identity_env: Collection[str] = (),
        max_line_bytes: int = MAX_MESSAGE_BYTES,
    ) -> None:
        super().__init__(name, on_unrelated)
        self._max_line = max_line_bytes
        self._argv = (command, *args)
        self._env = (env, identity, identity_env)
        self._cwd = cwd
        self._process: asyncio.subprocess.Process | None = None
        self._readers: list[asyncio.Task[None]] = []
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=STDERR_LINES)

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    async def _open(self) -> None:
        try:
            env = server_environment(*self._env)
        except UpstreamValueError as exc:
            raise UpstreamUnavailableError(f"stdio server {self.name!r} was not started: {exc}") from None
        try:
            process = await asyncio.create_subprocess_exec(
                *self._argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=env,
                cwd=self._cwd,
                limit=self._max_line,
                start_new_session=True,
            )
        except OSError as exc:
            raise UpstreamUnavailableError(
                f"stdio server {self.name!r} could not start: {exc.strerror}"
            ) from exc
        log.info("started stdio server %s (pid %s)", self.name, process.pid)
        self._process = process
        self._readers = [  # a previous process's readers may still be stopping it
            *(task for task in self._readers if not task.done()),
            asyncio.create_task(self._read_stdout(process)),
            asyncio.create_task(self._read_stderr(process)),
        ]

    async def _read_stdout(self, process: asyncio.subprocess.Process) -> None:
        error: UpstreamError | None = None
        try:
            await self._pump_stdout(process)
        except ValueError:  # asyncio's StreamReader: a line over its limit
            log.warning(
                "stdio server %s wrote a line over %d bytes (content not logged); restarting it",
                self.name,
                self._max_line,
            )
            error = ResponseTooLargeError(f"stdio server {self.name!r}", self._max_line)
        except Exception:
            log.exception("reading stdio server %s failed; restarting it", self.name)
            error = UpstreamUnavailableError(f"stdio server {self.name!r} sent what the gateway cannot read")
        if error is not None:
            if self._process is process:
                self._process = None
                self._lost(str(error), error)
            await _stop(process, ask_first=False)  # it may be blocked writing the rest of that line
            while await process.stdout.read(65536):  # type: ignore[union-attr] # to EOF, so the pipe closes
                pass
            return
        # stdout closed: the server is gone for us even before its exit status is known.
        code = None
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(1):
                code = await process.wait()
        if self._process is process:
            self._process = None
            log.warning("stdio server %s exited (code %s)", self.name, code)
            self._lost(f"stdio server {self.name!r} exited (code {code})")

    async def _pump_stdout(self, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        while line := await process.stdout.readline():
            try:
                message = orjson.loads(line)
            except orjson.JSONDecodeError:
                log.warning("stdio server %s wrote a line that is not JSON; ignored", self.name)
                continue
            peer = self._peer
            if peer is not None and isinstance(message, dict):
                await peer.receive(message)

    async def _read_stderr(self, process: asyncio.subprocess.Process) -> None:
        assert process.stderr is not None
        while True:
            try:
                line = await process.stderr.readline()
            except ValueError:  # over the limit: asyncio dropped it; keep reading so the pipe drains
                self.stderr_tail.append(f"[a stderr line over {self._max_line} bytes, dropped]")
                continue
            if not line:
                return
            text = line.decode(errors="replace").rstrip()
            self.stderr_tail.append(text)
            log.debug("[%s stderr] %s", self.name, text)

    async def _send(self, message: JsonObject, client: Client | None = None) -> None:
        process = self._process
        if process is None or process.stdin is None or process.returncode is not None:
            raise UpstreamUnavailableError(f"stdio server {self.name!r} is not running")
        try:
            process.stdin.write(orjson.dumps(message) + b"\n")
            await process.stdin.drain()
        except (ConnectionError, RuntimeError) as exc:
            raise UpstreamUnavailableError(f"stdio server {self.name!r} is not running") from exc

    async def _shutdown(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            await _stop(process)
        readers, self._readers = self._readers, []
        # The process is gone: its readers reach EOF, and the pipes close with them.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                await asyncio.gather(*readers, return_exceptions=True)
        for task in readers:
            task.cancel()


async def _stop(process: asyncio.subprocess.Process, ask_first: bool = True) -> None:
    """Close stdin (when ``ask_first``), then SIGTERM, then SIGKILL, giving each 2 seconds."""
    if process.returncode is not None:
        return
    if process.stdin is not None:
        with contextlib.suppress(Exception):
            process.stdin.close()
    for stop in (None, process.terminate, process.kill) if ask_first else (process.terminate, process.kill):
        if stop is not None:
            with contextlib.suppress(ProcessLookupError):
                stop()
        try:
            async with asyncio.timeout(2):
                await process.wait()
            return
        except TimeoutError:
            continue

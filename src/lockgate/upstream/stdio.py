"""stdio servers: a supervised subprocess speaking newline-delimited JSON-RPC (MCP basic/transports/stdio).

Started on the first request, restarted on the next request after it exits, shut down by closing
stdin, then SIGTERM, then SIGKILL. Its stderr is kept (the last lines) and logged at debug level. Its
environment is explicit: only ``PATH``, ``HOME``, ``LANG``, the variables of the calling identity
that the server declares for identities (``identity_env``), and the server's own variables, which
nothing overrides. An identity's values are data: one that would set any other variable (a loader's
or an interpreter's, ``lockgate.domain.upstream_values``) keeps the server from starting.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
from collections.abc import Collection, Mapping

import orjson

from lockgate.domain.upstream_values import UpstreamValueError, check_identity_env, check_server_env
from lockgate.upstream.base import Client, JsonObject, OnServerNotification, UpstreamUnavailableError
from lockgate.upstream.session import RpcUpstream

log = logging.getLogger(__name__)
INHERITED_ENV = ("PATH", "HOME", "LANG")
LINE_LIMIT = 16 * 1024 * 1024
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
    ) -> None:
        super().__init__(name, on_unrelated)
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
                limit=LINE_LIMIT,
                start_new_session=True,
            )
        except OSError as exc:
            raise UpstreamUnavailableError(
                f"stdio server {self.name!r} could not start: {exc.strerror}"
            ) from exc
        log.info("started stdio server %s (pid %s)", self.name, process.pid)
        self._process = process
        self._readers = [
            asyncio.create_task(self._read_stdout(process)),
            asyncio.create_task(self._read_stderr(process)),
        ]

    async def _read_stdout(self, process: asyncio.subprocess.Process) -> None:
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
        # stdout closed: the server is gone for us even before its exit status is known.
        code = None
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(1):
                code = await process.wait()
        if self._process is process:
            self._process = None
            log.warning("stdio server %s exited (code %s)", self.name, code)
            self._lost(f"stdio server {self.name!r} exited (code {code})")

    async def _read_stderr(self, process: asyncio.subprocess.Process) -> None:
        assert process.stderr is not None
        while line := await process.stderr.readline():
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
        if process is not None and process.returncode is None:
            if process.stdin is not None:
                with contextlib.suppress(Exception):
                    process.stdin.close()
            for stop in (None, process.terminate, process.kill):
                if stop is not None:
                    with contextlib.suppress(ProcessLookupError):
                        stop()
                try:
                    async with asyncio.timeout(2):
                        await process.wait()
                    break
                except TimeoutError:
                    continue
        for task in self._readers:
            task.cancel()
        self._readers = []

"""A read on a worker thread shared by every caller waiting for it, never older than their call.

A caller gets the result of a read that started after it called: the read under way when it calls
started too early, so it waits for the next one, which starts when that one ends and serves
everyone who called in between. A burst of callers costs one thread hop per read, not one each,
and each still sees every commit made before it called.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Generic, TypeVar

T = TypeVar("T")


class SharedRead(Generic[T]):
    """``read`` run on ``executor``, shared as above. Use it from one event loop."""

    def __init__(self, read: Callable[[], T], executor: Executor) -> None:
        self._read = read
        self._executor = executor
        self._running = False
        self._next: asyncio.Future[T] | None = None  # for those who called while a read ran

    async def __call__(self) -> T:
        """The result of a read that started after this call.

        Raises:
            whatever ``read`` raised, to every caller that shared it.
        """
        shared = self._next
        if shared is None:
            shared = self._next = asyncio.get_running_loop().create_future()
            if not self._running:
                self._start()
        return await asyncio.shield(shared)

    def _start(self) -> None:
        shared, self._next = self._next, None
        assert shared is not None
        self._running = True
        running = asyncio.get_running_loop().run_in_executor(self._executor, self._read)

        def done(read: asyncio.Future[T]) -> None:
            self._running = False
            if read.cancelled():
                shared.cancel()
            elif (error := read.exception()) is not None:
                shared.set_exception(error)
            else:
                shared.set_result(read.result())
            if self._next is not None:
                self._start()

        running.add_done_callback(done)

"""A shared read: callers who arrive while a read runs share the next one, which starts after they
called; an error reaches every caller that shared the read, and the next call reads again."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import anyio
import pytest

from lockgate.store.shared_read import SharedRead

pytestmark = pytest.mark.anyio


class GatedRead:
    """A read that counts its runs and holds each until ``release`` is set."""

    def __init__(self, fail: bool = False) -> None:
        self.runs = 0
        self.started = threading.Event()
        self.release = threading.Event()
        self.fail = fail

    def __call__(self) -> int:
        self.runs += 1
        self.started.set()
        assert self.release.wait(5)
        if self.fail:
            raise OSError(f"read {self.runs} failed")
        return self.runs


@pytest.fixture
def executor() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(2) as pool:
        yield pool


async def test_callers_arriving_during_a_read_share_the_next_one(executor: ThreadPoolExecutor) -> None:
    read = GatedRead()
    shared = SharedRead(read, executor)
    with anyio.fail_after(5):
        first = asyncio.ensure_future(shared())
        assert await anyio.to_thread.run_sync(read.started.wait, 5)
        later = [asyncio.ensure_future(shared()) for _ in range(5)]
        await asyncio.sleep(0)  # let them all call while the first read is held
        read.release.set()
        assert await first == 1
        assert await asyncio.gather(*later) == [2] * 5
    assert read.runs == 2


async def test_an_error_reaches_every_caller_of_the_read_and_the_next_call_reads_again(
    executor: ThreadPoolExecutor,
) -> None:
    read = GatedRead(fail=True)
    shared = SharedRead(read, executor)
    read.release.set()
    with anyio.fail_after(5):
        outcomes = await asyncio.gather(shared(), shared(), shared(), return_exceptions=True)
        assert [str(o) for o in outcomes] == ["read 1 failed", "read 2 failed", "read 2 failed"]
        read.fail = False
        assert await shared() == 3

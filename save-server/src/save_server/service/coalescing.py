"""Runs of the same work asked for many times at once become one run: a request waits for a
run that starts after it was made (so it sees every change made before it), and every request
made while that run had not started shares it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Hashable


class Coalescer:
    def __init__(self) -> None:
        self._waiting: dict[Hashable, asyncio.Future[None]] = {}
        self._running: dict[Hashable, asyncio.Future[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def run(self, key: Hashable, work: Callable[[], Awaitable[None]]) -> None:
        """Returns when a run of `work` that started after this call ended (raises its
        error)."""
        future = self._waiting.get(key)
        if future is None:
            future = self._waiting[key] = asyncio.get_running_loop().create_future()
            task = asyncio.create_task(self._start(key, future, work))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        await asyncio.shield(future)

    async def _start(self, key: Hashable, future: asyncio.Future[None],
                     work: Callable[[], Awaitable[None]]) -> None:
        running = self._running.get(key)
        if running is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(running)
        self._waiting.pop(key, None)
        self._running[key] = future
        try:
            await work()
            future.set_result(None)
        except Exception as error:
            future.set_exception(error)
        finally:
            if self._running.get(key) is future:
                del self._running[key]
            if future.done() and not future.cancelled():
                future.exception()  # retrieved: no "never retrieved" warning without waiters

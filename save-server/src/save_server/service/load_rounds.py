"""Group commit of the sites' allocation rounds: a round waits until its view, turns and
allocation event are committed (before its profiles go out, as each round did alone), but the
rounds of many sites recomputed meanwhile share one transaction — one writer task, at most
MAX_ROUNDS_PER_WRITE rounds a commit. A batch the store refuses is written again round by
round, so one bad round fails only its own site."""

from __future__ import annotations

import asyncio
from collections import deque

from save_server.domain.load.ports import AllocationRound, LoadStore

MAX_ROUNDS_PER_WRITE = 500


class RoundWriter:
    def __init__(self, store: LoadStore) -> None:
        self._store = store
        self._unwritten: list[tuple[AllocationRound, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def write(self, allocation_round: AllocationRound) -> None:
        """Returns once the round is committed; raises what the store raised for it."""
        written: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._unwritten.append((allocation_round, written))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write())
        await written

    async def _write(self) -> None:
        while self._unwritten:
            batch = self._unwritten[:MAX_ROUNDS_PER_WRITE]
            del self._unwritten[:len(batch)]
            try:
                await asyncio.to_thread(self._store.record_rounds, [r for r, _ in batch])
            except Exception:
                for allocation_round, written in batch:
                    await self._write_alone(allocation_round, written)
                continue
            for _, written in batch:
                _settle(written)

    async def _write_alone(self, allocation_round: AllocationRound,
                           written: asyncio.Future[None]) -> None:
        try:
            await asyncio.to_thread(self._store.record_rounds, [allocation_round])
        except Exception as error:
            _settle(written, error)
            return
        _settle(written)


def _settle(written: asyncio.Future[None], error: Exception | None = None) -> None:
    if written.done():  # its round was cancelled meanwhile (the process stops)
        return
    if error is None:
        written.set_result(None)
    else:
        written.set_exception(error)


class RecentIds:
    """The last `size` ids added (a set that forgets the oldest)."""

    def __init__(self, size: int) -> None:
        self._order: deque[str] = deque()
        self._ids: set[str] = set()
        self._size = size

    def add(self, item: str) -> None:
        if item in self._ids:
            return
        self._order.append(item)
        self._ids.add(item)
        if len(self._order) > self._size:
            self._ids.discard(self._order.popleft())

    def __contains__(self, item: object) -> bool:
        return item in self._ids

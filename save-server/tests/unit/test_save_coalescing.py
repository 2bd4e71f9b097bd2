"""Coalescer: requests made while a run is waiting share it; a request made during a run gets a
run of its own that starts after; errors reach every waiter."""

from __future__ import annotations

import asyncio

import pytest

from save_server.service.coalescing import Coalescer


async def test_requests_while_waiting_share_one_run_and_later_ones_get_the_next() -> None:
    coalescer, runs, gate = Coalescer(), [], asyncio.Event()

    async def work() -> None:
        runs.append(len(runs))
        await gate.wait()

    first = asyncio.create_task(coalescer.run("k", work))
    await asyncio.sleep(0)
    await asyncio.sleep(0)  # the first run started and waits on the gate
    later = [asyncio.create_task(coalescer.run("k", work)) for _ in range(10)]
    other = asyncio.create_task(coalescer.run("other", work))
    await asyncio.sleep(0.01)
    assert runs == [0, 1]  # "k" once (the later ones wait for it to end), "other" once
    gate.set()
    await asyncio.gather(first, *later, other)
    assert len(runs) == 3  # one more run of "k" for the ten that came during the first


async def test_an_error_reaches_every_request_of_that_run() -> None:
    coalescer = Coalescer()

    async def broken() -> None:
        await asyncio.sleep(0)
        raise RuntimeError("database away")

    results = await asyncio.gather(*(coalescer.run("k", broken) for _ in range(3)),
                                   return_exceptions=True)
    assert [type(r) for r in results] == [RuntimeError] * 3
    with pytest.raises(RuntimeError):
        await coalescer.run("k", broken)

"""KeyedLocks: one holder per key at a time, in arrival order, other keys not blocked, and
nothing kept for a key once nobody holds or waits for it (also after an error)."""

from __future__ import annotations

import asyncio

import pytest

from save_server.service.keyed_locks import KeyedLocks


async def test_one_holder_per_key_in_arrival_order_and_other_keys_free():
    locks, order = KeyedLocks(), []
    release = asyncio.Event()

    async def hold(key: str, name: str, wait: bool = False) -> None:
        async with locks.hold(key):
            order.append(f"{name} in")
            if wait:
                await release.wait()
            order.append(f"{name} out")

    first = asyncio.create_task(hold("A", "a1", wait=True))
    await asyncio.sleep(0)
    second = asyncio.create_task(hold("A", "a2"))
    third = asyncio.create_task(hold("A", "a3"))
    await hold("B", "b1")  # another key does not wait for A
    assert order == ["a1 in", "b1 in", "b1 out"]
    assert len(locks) == 1
    release.set()
    await asyncio.gather(first, second, third)
    assert order[3:] == ["a1 out", "a2 in", "a2 out", "a3 in", "a3 out"]
    assert len(locks) == 0


async def test_nothing_is_kept_after_an_error_or_a_cancelled_waiter():
    locks = KeyedLocks()
    with pytest.raises(RuntimeError):
        async with locks.hold("A"):
            raise RuntimeError("boom")
    assert len(locks) == 0
    release = asyncio.Event()

    async def hold() -> None:
        async with locks.hold("A"):
            await release.wait()

    holder = asyncio.create_task(hold())
    await asyncio.sleep(0)
    waiter = asyncio.create_task(hold())
    await asyncio.sleep(0)
    waiter.cancel()
    await asyncio.gather(waiter, return_exceptions=True)
    assert len(locks) == 1
    release.set()
    await holder
    assert len(locks) == 0

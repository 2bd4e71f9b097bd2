"""Keeps CPython's cyclic garbage collector from pausing the gateway for seconds.

A full (generation 2) collection walks every tracked object; with 10,000 connections that is
0.8-2.7 s during which nothing is accepted or answered (docs/performance.md, "Gateway").
`gc.freeze()` moves every object alive at that moment to a permanent generation the collector
skips. The long-lived objects of a gateway are its connections, so the heap is frozen once
after start-up and then again whenever more stations are connected than at the last freeze.

Trade-off: reference cycles that were already frozen when they became garbage are only freed
by `gc.unfreeze()` (never called here); per-connection objects are freed by reference
counting when a connection closes, so what stays behind is small (measured: RSS per idle
station unchanged). GATEWAY_GC_FREEZE_INTERVAL=0 turns this off.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable

from ocpp_events.infrastructure.tasks import cancel_and_wait


class HeapFreezer:
    def __init__(self, interval: float, connected_stations: Callable[[], int]) -> None:
        self._interval = interval
        self._connected_stations = connected_stations
        self._frozen_at_stations = -1
        self._task: asyncio.Task[None] | None = None
        self.freezes = 0

    def freeze_if_grown(self) -> bool:
        """Freeze if more stations are connected than at the last freeze (always the first time)."""
        stations = self._connected_stations()
        if stations <= self._frozen_at_stations:
            return False
        gc.freeze()
        self._frozen_at_stations = stations
        self.freezes += 1
        return True

    async def start(self) -> None:
        if self._interval <= 0:
            return
        gc.collect()  # start-up garbage is freed, not frozen
        self.freeze_if_grown()
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            self.freeze_if_grown()

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

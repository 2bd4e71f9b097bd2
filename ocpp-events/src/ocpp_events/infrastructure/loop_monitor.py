"""Event-loop lag probe: how late a timer fires is how long every callback waited.

A task sleeps `interval` seconds in a loop and records how much later than asked it woke up
(`ocpp_gateway_event_loop_lag_seconds`). A station's answer waits at least that long, so a
round-trip tail that this histogram does not show comes from elsewhere (the broker, the
network, the load generator).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from ocpp_events.infrastructure.tasks import cancel_and_wait


class LoopLagProbe:
    def __init__(self, interval: float, observe: Callable[[float], None]) -> None:
        self._interval = interval
        self._observe = observe
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._interval > 0:
            self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            asked = loop.time() + self._interval
            await asyncio.sleep(self._interval)
            self._observe(max(0.0, loop.time() - asked))

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

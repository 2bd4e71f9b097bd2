"""Start the services in one loop and stop them by one rule, whatever services there are.

A graceful stop leaves no message in the in-process broker (its command queues live in memory
only; the event queues' journal would hand the rest over at the next start, but a clean stop
should not need that):
1. every service stops producing — the gateway stops accepting chargers, closes them with 1001
   and finishes the calls in flight (each answered call's event is in the broker by then), the
   APIs stop taking requests and cancel replays;
2. the queues the services consume are drained: their workers keep running until every message
   is acknowledged, i.e. committed;
3. every service stops its consumers and closes its storage.
A second stop request (Ctrl-C again) skips what is left of step 2, saying how much is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Callable, Sequence
from typing import Protocol

DRAIN_POLL_SECONDS = 0.05
DRAIN_REPORT_SECONDS = 2.0


class EmbeddedService(Protocol):
    """What a service's composition root gives the launcher (`Embedded*` in each bootstrap)."""

    name: str
    consumes: Sequence[str]  # queues its workers take messages from, drained before `stop`

    async def start(self) -> None:
        """Declare its queues and start serving; raises when it cannot (e.g. a busy port)."""

    async def wait(self) -> None:
        """Return (or raise) only when the service ends by itself, i.e. fails."""

    async def stop_producing(self) -> None:
        """Take no more input; return once all it published is in the broker."""

    async def stop(self) -> None:
        """Stop its consumers and release everything (called after the drain)."""


class StopRequests:
    """The first request stops gracefully; a second one skips the rest of the drain."""

    def __init__(self) -> None:
        self.first = asyncio.Event()
        self.again = asyncio.Event()

    def request(self) -> None:
        (self.again if self.first.is_set() else self.first).set()


class Broker(Protocol):
    def pending(self, queue: str) -> int: ...


async def run_together(broker: Broker, services: Sequence[EmbeddedService],
                       requests: StopRequests | None = None,
                       on_started: Callable[[], None] | None = None) -> None:
    """Start `services` in order (consumers first, so their queues exist before a producer
    publishes), run until a stop request, a failing service or cancellation, then stop them
    all by the rule above. A failing service ends this with RuntimeError."""
    requests = requests or StopRequests()
    started: list[EmbeddedService] = []
    try:
        for service in services:
            await service.start()
            started.append(service)
        if on_started is not None:
            on_started()
        await _until_stop_or_failure(started, requests)
    finally:
        await stop_all(broker, started, requests)


async def stop_all(broker: Broker, services: Sequence[EmbeddedService],
                   requests: StopRequests) -> None:
    await _each(services, "stop_producing")
    await drain(broker, [queue for service in services for queue in service.consumes], requests)
    await _each(services, "stop")


async def drain(broker: Broker, queues: Sequence[str], requests: StopRequests) -> None:
    """Wait until no queue holds an unacknowledged message, or until a second stop request."""
    reported = time.monotonic()
    while (left := sum(broker.pending(queue) for queue in queues)) > 0:
        if requests.again.is_set():
            _say(f"stopping without draining: {left} events not yet stored are dropped")
            return
        if time.monotonic() - reported >= DRAIN_REPORT_SECONDS:
            reported = time.monotonic()
            _say(f"storing the last {left} events (Ctrl-C again drops them)")
        await asyncio.sleep(DRAIN_POLL_SECONDS)


async def _until_stop_or_failure(services: Sequence[EmbeddedService],
                                 requests: StopRequests) -> None:
    waits = {asyncio.create_task(service.wait(), name=service.name): service
             for service in services}
    stop = asyncio.create_task(requests.first.wait())
    try:
        done, _ = await asyncio.wait([stop, *waits], return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in [stop, *waits]:
            task.cancel()
        for task in [stop, *waits]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
    ended = [task for task in done if task is not stop]
    if ended:
        error = None if ended[0].cancelled() else ended[0].exception()
        raise RuntimeError(f"service {ended[0].get_name()} stopped") from error


async def _each(services: Sequence[EmbeddedService], step: str) -> None:
    """Run `step` of every service at once; one failing does not keep the others running."""
    results = await asyncio.gather(*(getattr(service, step)() for service in services),
                                   return_exceptions=True)
    for service, result in zip(services, results, strict=True):
        if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
            _say(f"{service.name}: {step} failed: {result!r}")


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)

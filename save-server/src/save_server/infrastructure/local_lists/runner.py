"""The local-list sync as a thread with an event loop of its own (in the API process): its
command bus (own reply queue) and its consumer live in that loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable

import structlog

from save_server.domain.station_commands import CommandBus
from save_server.infrastructure.local_lists.consumer import Binding, Handler
from save_server.infrastructure.local_lists.events import STATION_EVENTS, TAG_EVENTS, work_for
from save_server.service.local_lists import LocalListSync

log = structlog.get_logger("save_server.local_lists")
THREAD = "save-server-local-lists"


def bindings(events_exchange: str, registry_exchange: str | None) -> list[Binding]:
    """Station events on the events exchange; tag events wherever the outbox routes them."""
    exchanges = dict.fromkeys(filter(None, (events_exchange, registry_exchange)))
    return ([(events_exchange, kind) for kind in STATION_EVENTS]
            + [(exchange, kind) for exchange in exchanges for kind in TAG_EVENTS])


def handler(sync: LocalListSync) -> Handler:
    async def handle(body: bytes) -> None:
        await asyncio.gather(*work_for(sync, body))
    return handle


def start(make_bus: Callable[[], CommandBus], make_sync: Callable[[CommandBus], LocalListSync],
          consume: Callable[[Handler], Awaitable[None]]) -> threading.Thread:
    """`consume` runs until its stop event is set; the thread then closes the bus."""

    async def main() -> None:
        bus = make_bus()
        try:
            await consume(handler(make_sync(bus)))
        finally:
            await bus.close()

    def run() -> None:
        try:
            asyncio.run(main())
        except Exception:
            log.exception("local list sync stopped")

    thread = threading.Thread(target=run, name=THREAD, daemon=True)
    thread.start()
    return thread

"""The station registry fed from csms_embedded's in-process broker: same binding
(`station-registry.#` on the events exchange), same snapshot request, same file."""

from __future__ import annotations

import asyncio
import contextlib
import pathlib
import threading
from typing import Any, Protocol

from ocpp_events.domain.station_registry import SNAPSHOT_REQUESTED
from ocpp_events.infrastructure.registry_fed import BINDING, FileBackedRegistry, snapshot_request


class RegistryBroker(Protocol):
    def declare_queue(self, name: str, bindings: Any = (),
                      dead_letter_queue: str | None = None) -> None: ...
    def delete_queue(self, name: str) -> None: ...
    def get(self, queue: str, timeout: float | None = None) -> Any: ...
    def ack(self, queue: str, message: Any) -> None: ...
    def publish(self, exchange: str, routing_key: str, body: bytes,
                headers: dict | None = None, properties: dict | None = None) -> int: ...


class InProcessStationRegistry(FileBackedRegistry):
    """A thread waits on the queue (the broker's `get` blocks) and hands each message to the
    event loop, which applies it and then acknowledges it."""

    def __init__(self, broker: RegistryBroker, exchange: str, instance_id: str,
                 path: pathlib.Path | None, poll_seconds: float = 0.5) -> None:
        super().__init__(path, instance_id)
        self._broker, self._exchange = broker, exchange
        self.queue_name = f"station-registry.gateway.{instance_id}"
        self._poll_seconds = poll_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._broker.declare_queue(self.queue_name, [(self._exchange, BINDING)])
        self._thread = threading.Thread(target=self._receive, name="gateway-registry",
                                        daemon=True)
        self._thread.start()
        self._broker.publish(self._exchange, SNAPSHOT_REQUESTED,
                             snapshot_request(self.instance_id),
                             properties={"content_type": "application/json"})

    def _receive(self) -> None:
        assert self._loop is not None
        while not self._stop.is_set():
            message = self._broker.get(self.queue_name, timeout=self._poll_seconds)
            if message is None:
                continue
            with contextlib.suppress(RuntimeError):  # the loop is closing
                self._loop.call_soon_threadsafe(self._apply, message)

    def _apply(self, message: Any) -> None:
        self.receive(message.body)
        self._broker.ack(self.queue_name, message)

    async def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 5)
        self._broker.delete_queue(self.queue_name)
        await self.flush()

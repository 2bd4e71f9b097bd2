"""The station registry fed from csms_embedded's in-process broker: same bindings
(`station-registry.#` and the feeds' on the registry exchange), same snapshot requests, same
file."""

from __future__ import annotations

import asyncio
import contextlib
import pathlib
import threading
from collections.abc import Sequence
from typing import Any, Protocol

from ocpp_events.infrastructure.registry_fed import FileBackedRegistry, RegistryFeed


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
                 path: pathlib.Path | None, poll_seconds: float = 0.5,
                 feeds: Sequence[RegistryFeed] = ()) -> None:
        super().__init__(path, instance_id, feeds)
        self._broker, self._exchange = broker, exchange
        self.queue_name = f"station-registry.gateway.{instance_id}"
        self._poll_seconds = poll_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._broker.declare_queue(self.queue_name,
                                   [(self._exchange, binding) for binding in self.bindings()])
        self._thread = threading.Thread(target=self._receive, name="gateway-registry",
                                        daemon=True)
        self._thread.start()
        for routing_key, body in self.snapshot_requests():
            self._broker.publish(self._exchange, routing_key, body,
                                 properties={"content_type": "application/json"})

    def _receive(self) -> None:
        assert self._loop is not None
        while not self._stop.is_set():
            message = self._broker.get(self.queue_name, timeout=self._poll_seconds)
            if message is None:
                continue
            decoded = self.decode_off_loop(message.routing_key, message.body)  # big: here
            with contextlib.suppress(RuntimeError):  # the loop is closing
                self._loop.call_soon_threadsafe(self._apply, message, decoded)

    def _apply(self, message: Any, decoded: object) -> None:
        self.deliver(message.routing_key, message.body, decoded)
        self._broker.ack(self.queue_name, message)

    async def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 5)
        self._broker.delete_queue(self.queue_name)
        await self.flush()

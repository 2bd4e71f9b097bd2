"""Remote commands from csms_embedded's in-process broker: same routing as with RabbitMQ.

The command exchange is declared `direct`; this instance's queue is bound per connected
station. A thread waits on the queue (the broker's `get` blocks) and hands each command to the
event loop; the reply goes to the requester's queue (`reply_to`) with its `correlation_id`.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Any, Protocol

import structlog

from ocpp_events.domain.ports import CommandHandler, CommandInbox
from ocpp_events.infrastructure.amqp_commands import parse_request, queue_name

log = structlog.get_logger("ocpp_events.commands.inprocess")


class CommandBroker(Protocol):
    def declare_exchange(self, name: str, kind: str = "topic") -> None: ...
    def declare_queue(self, name: str, bindings: Any = (),
                      dead_letter_queue: str | None = None) -> None: ...
    def unbind(self, name: str, exchange: str, pattern: str) -> None: ...
    def delete_queue(self, name: str) -> None: ...
    def get(self, queue: str, timeout: float | None = None) -> Any: ...
    def ack(self, queue: str, message: Any) -> None: ...
    def publish_to_queue(self, queue: str, routing_key: str, body: bytes,
                         headers: dict | None = None, properties: dict | None = None) -> None: ...


class InProcessCommandInbox(CommandInbox):
    def __init__(self, broker: CommandBroker, exchange: str, instance_id: str,
                 poll_seconds: float = 0.5) -> None:
        self._broker = broker
        self._exchange = exchange
        self.queue_name = queue_name(instance_id)
        self._poll_seconds = poll_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handle: CommandHandler | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, handle: CommandHandler) -> None:
        self._handle = handle
        self._loop = asyncio.get_running_loop()
        self._broker.declare_exchange(self._exchange, "direct")
        self._broker.declare_queue(self.queue_name)
        self._thread = threading.Thread(target=self._receive, name="gateway-commands",
                                        daemon=True)
        self._thread.start()

    def station_connected(self, station_id: str) -> None:
        self._broker.declare_queue(self.queue_name, [(self._exchange, station_id)])

    def station_disconnected(self, station_id: str) -> None:
        self._broker.unbind(self.queue_name, self._exchange, station_id)

    def _receive(self) -> None:
        assert self._loop is not None
        while not self._stop.is_set():
            message = self._broker.get(self.queue_name, timeout=self._poll_seconds)
            if message is None:
                continue
            self._broker.ack(self.queue_name, message)  # at most once, as with RabbitMQ
            with contextlib.suppress(RuntimeError):  # the loop is closing
                self._loop.call_soon_threadsafe(self._spawn, message)

    def _spawn(self, message: Any) -> None:
        if self._stop.is_set():  # taken while closing: no task outlives close()
            log.info("command dropped: the gateway is stopping")
            return
        task = asyncio.create_task(self._run(message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, message: Any) -> None:
        assert self._handle is not None
        if (request := parse_request(message.body)) is None:
            return
        try:
            reply = await self._handle(request)
        except Exception:  # a bug: logged here, the requester times out
            log.exception("command failed", command_id=request.command_id)
            return
        reply_to = message.properties.get("reply_to")
        if reply is None or not reply_to:
            return
        try:
            self._broker.publish_to_queue(
                reply_to, reply_to, reply.to_json(),
                properties={"correlation_id": message.properties.get("correlation_id"),
                            "content_type": "application/json"})
        except KeyError:
            log.info("requester gone; reply dropped", command_id=request.command_id)

    async def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 5)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._broker.delete_queue(self.queue_name)

"""CommandBus on csms_embedded's in-process broker: the same routing as with RabbitMQ.

The command exchange is declared `direct`; a publish that reaches no queue means no gateway
holds the station (NOT_CONNECTED). Replies come to a queue of this process; a thread waits
on it (the broker's `get` blocks) and hands each reply to the event loop, so the API awaits
the answer without blocking the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import uuid
from typing import Any, Protocol

from save_server.domain.station_commands import (
    CommandAnswer,
    CommandBus,
    CommandOutcome,
    CommandRequest,
)
from save_server.infrastructure.commands.replies import PendingReplies, request_body


class CommandBroker(Protocol):
    def declare_exchange(self, name: str, kind: str = "topic") -> None: ...
    def declare_queue(self, name: str, bindings: Any = (),
                      dead_letter_queue: str | None = None) -> None: ...
    def delete_queue(self, name: str) -> None: ...
    def publish(self, exchange: str, routing_key: str, body: bytes,
                headers: dict | None = None, properties: dict | None = None) -> int: ...
    def get(self, queue: str, timeout: float | None = None) -> Any: ...
    def ack(self, queue: str, message: Any) -> None: ...


class EmbeddedCommandBus(CommandBus):
    def __init__(self, broker: CommandBroker, exchange: str, poll_seconds: float = 0.5) -> None:
        self._broker = broker
        self._exchange = exchange
        self._poll_seconds = poll_seconds
        self.reply_queue = f"save-server.command-replies.{uuid.uuid4().hex[:12]}"
        self._pending = PendingReplies()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def _start(self) -> None:
        if self._thread is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._broker.declare_exchange(self._exchange, "direct")
        self._broker.declare_queue(self.reply_queue)
        self._thread = threading.Thread(target=self._receive, name="save-server-replies",
                                        daemon=True)
        self._thread.start()

    def _receive(self) -> None:
        assert self._loop is not None
        while not self._stop.is_set():
            message = self._broker.get(self.reply_queue, timeout=self._poll_seconds)
            if message is None:
                continue
            self._broker.ack(self.reply_queue, message)
            command_id = message.properties.get("correlation_id")
            if command_id:
                with contextlib.suppress(RuntimeError):  # the loop is closing
                    self._loop.call_soon_threadsafe(self._pending.resolve, command_id,
                                                    message.body)

    async def send(self, request: CommandRequest) -> CommandAnswer:
        self._start()
        waiting = self._pending.expect(request.command_id)
        try:
            routed = self._broker.publish(
                self._exchange, request.station_id, json.dumps(request_body(request)).encode(),
                properties={"content_type": "application/json",
                            "correlation_id": request.command_id, "reply_to": self.reply_queue,
                            "expiration": str(int(request.timeout * 1000))})
            if routed == 0:
                return CommandAnswer(CommandOutcome.NOT_CONNECTED,
                                     error_description="not connected to any gateway")
            return await self._pending.wait(waiting, request.timeout)
        finally:
            self._pending.forget(request.command_id)

    async def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 5)
            self._broker.delete_queue(self.reply_queue)

"""Notifier for the embedded mode: hands events to csms_embedded's in-process broker."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from typing import Any, Protocol

from ocpp_events.domain.events import Event, rfc3339
from ocpp_events.domain.ports import Notifier, PublishFailed


class InProcessBroker(Protocol):
    def publish_then(self, exchange: str, routing_key: str, body: bytes,
                     settled: Callable[[int, BaseException | None], None],
                     headers: dict | None = None, properties: dict | None = None) -> None: ...


class _Confirmations:
    """Hands the broker's confirmations (from its journal's thread) to the event loop in
    batches: one `call_soon_threadsafe` (a write to the loop's wake-up pipe) per group commit
    instead of one per publish."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._lock = threading.Lock()
        self._settled: list[tuple[asyncio.Future[int], int, BaseException | None]] = []

    def waiter(self) -> tuple[asyncio.Future[int], Callable[[int, BaseException | None], None]]:
        future = self.loop.create_future()

        def settled(routed: int, error: BaseException | None) -> None:
            with self._lock:
                first = not self._settled
                self._settled.append((future, routed, error))
            if first:
                with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
                    self.loop.call_soon_threadsafe(self._deliver)

        return future, settled

    def _deliver(self) -> None:
        with self._lock:
            settled, self._settled = self._settled, []
        for future, routed, error in settled:
            if future.done():  # the publisher gave up waiting (its timeout)
                continue
            if error is None:
                future.set_result(routed)
            else:
                future.set_exception(error)


def message_properties(event: Event) -> dict[str, Any]:
    return {
        "content_type": "application/json",
        "delivery_mode": 2,
        "message_id": event.event_id,
        "timestamp": rfc3339(event.received_at),
    }


class InProcessNotifier(Notifier):
    """The broker's future resolves once every durable queue's copy is on disk (the journal
    committed it) and the others are queued: that is the confirmation.

    With `require_routed`, an event no queue is bound for counts as not confirmed (like an
    AMQP mandatory publish that came back), so a station is never told "done" for an event
    nobody will receive.
    """

    def __init__(self, broker: InProcessBroker, exchange: str,
                 require_routed: bool = True) -> None:
        self._broker = broker
        self._exchange = exchange
        self._require_routed = require_routed
        self._confirmations: _Confirmations | None = None

    async def publish(self, event: Event) -> None:
        loop, confirmations = asyncio.get_running_loop(), self._confirmations
        if confirmations is None or confirmations.loop is not loop:
            confirmations = self._confirmations = _Confirmations(loop)
        confirmed, settled = confirmations.waiter()
        try:
            self._broker.publish_then(
                self._exchange, event.type, event.to_json(), settled,
                headers={"charging_station_id": event.charging_station_id},
                properties=message_properties(event))
            routed = await confirmed
        except Exception as error:  # the journal could not store it: not confirmed
            raise PublishFailed(f"not stored by the in-process broker: {error!r}") from error
        if self._require_routed and routed == 0:
            raise PublishFailed(f"no queue bound for {event.type} on {self._exchange}")

    def is_ready(self) -> bool:
        return True

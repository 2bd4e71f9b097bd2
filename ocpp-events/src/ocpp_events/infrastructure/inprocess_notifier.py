"""Notifier for the embedded mode: hands events to csms_embedded's in-process broker."""

from __future__ import annotations

import asyncio
from concurrent.futures import Future
from typing import Any, Protocol

from ocpp_events.domain.events import Event, rfc3339
from ocpp_events.domain.ports import Notifier, PublishFailed


class InProcessBroker(Protocol):
    def publish_future(self, exchange: str, routing_key: str, body: bytes,
                       headers: dict | None = None,
                       properties: dict | None = None) -> Future[int]: ...


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

    async def publish(self, event: Event) -> None:
        try:
            routed = await asyncio.wrap_future(self._broker.publish_future(
                self._exchange, event.type, event.to_json(),
                headers={"charging_station_id": event.charging_station_id},
                properties=message_properties(event)))
        except Exception as error:  # the journal could not store it: not confirmed
            raise PublishFailed(f"not stored by the in-process broker: {error!r}") from error
        if self._require_routed and routed == 0:
            raise PublishFailed(f"no queue bound for {event.type} on {self._exchange}")

    def is_ready(self) -> bool:
        return True

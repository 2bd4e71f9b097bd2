"""What the broker-fed registry adapters share: the file, the snapshot request, and the other
copies fed from the same exchange and queue (`RegistryFeed`, e.g. the id tag registry)."""

from __future__ import annotations

import json
import pathlib
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Protocol

from ocpp_events.domain.station_registry import SNAPSHOT_REQUESTED
from ocpp_events.infrastructure import registry_file
from ocpp_events.infrastructure.registry_memory import InMemoryStationRegistry

BINDING = "station-registry.#"
OFF_LOOP_BYTES = 256 * 1024  # a feed's message this big is decoded in a worker thread


class RegistryFeed(Protocol):
    """Another copy kept from the registry exchange: its events' routing keys start with
    `prefix`; it is asked for a snapshot whenever the station registry is."""

    prefix: str  # e.g. "id-tag-registry."
    snapshot_requested: str  # routing key (and type) of its snapshot request

    def decode(self, body: bytes) -> object:
        """Parse a message; may run in a worker thread (big messages: snapshots)."""

    def receive(self, body: bytes, decoded: object = None) -> object:
        """Apply a message, on the event loop (`decoded`: what `decode` returned)."""

    async def flush(self) -> None: ...


def snapshot_request(instance_id: str, event_type: str = SNAPSHOT_REQUESTED) -> bytes:
    """Asks save-server to publish `station-registry.snapshot` (or the feed's)."""
    return json.dumps({
        "event_id": str(uuid.uuid4()), "type": event_type, "schema_version": 1,
        "charging_station_id": None,
        "received_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "payload": {"gateway_instance": instance_id},
    }, separators=(",", ":")).encode()


class FileBackedRegistry(InMemoryStationRegistry):
    def __init__(self, path: pathlib.Path | None, instance_id: str,
                 feeds: Sequence[RegistryFeed] = ()) -> None:
        super().__init__(registry_file.load(path))
        self.instance_id = instance_id
        self.feeds = tuple(feeds)
        self._file = registry_file.RegistryFile(path)

    def bindings(self) -> list[str]:
        return [BINDING, *(f"{feed.prefix}#" for feed in self.feeds)]

    def snapshot_requests(self) -> list[tuple[str, bytes]]:
        """(routing key, body) of each copy's snapshot request."""
        return [(SNAPSHOT_REQUESTED, snapshot_request(self.instance_id)),
                *((feed.snapshot_requested,
                   snapshot_request(self.instance_id, feed.snapshot_requested))
                  for feed in self.feeds)]

    def feed_for(self, routing_key: str) -> RegistryFeed | None:
        return next((f for f in self.feeds if routing_key.startswith(f.prefix)), None)

    def deliver(self, routing_key: str, body: bytes, decoded: object = None) -> None:
        """A message from the exchange, handed to the copy its routing key names."""
        feed = self.feed_for(routing_key)
        if feed is not None:
            feed.receive(body, decoded)
        else:
            self.receive(body)

    def decode_off_loop(self, routing_key: str, body: bytes) -> object:
        """What a feed's big message decodes to (call it in a worker thread), else None."""
        feed = self.feed_for(routing_key)
        if feed is None or len(body) < OFF_LOOP_BYTES:
            return None
        return feed.decode(body)

    def _changed(self, station_ids: list[str]) -> None:
        self._file.changed(self.state)
        super()._changed(station_ids)

    async def flush(self) -> None:
        await self._file.flush()
        for feed in self.feeds:
            await feed.flush()

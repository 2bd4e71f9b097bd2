"""What the broker-fed registry adapters share: the file, and the snapshot request."""

from __future__ import annotations

import json
import pathlib
import uuid
from datetime import UTC, datetime

from ocpp_events.domain.station_registry import SNAPSHOT_REQUESTED
from ocpp_events.infrastructure import registry_file
from ocpp_events.infrastructure.registry_memory import InMemoryStationRegistry

BINDING = "station-registry.#"


def snapshot_request(instance_id: str) -> bytes:
    """Asks save-server to publish `station-registry.snapshot` (docs/events.md)."""
    return json.dumps({
        "event_id": str(uuid.uuid4()), "type": SNAPSHOT_REQUESTED, "schema_version": 1,
        "charging_station_id": None,
        "received_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "payload": {"gateway_instance": instance_id},
    }, separators=(",", ":")).encode()


class FileBackedRegistry(InMemoryStationRegistry):
    def __init__(self, path: pathlib.Path | None, instance_id: str) -> None:
        super().__init__(registry_file.load(path))
        self.instance_id = instance_id
        self._file = registry_file.RegistryFile(path)

    def _changed(self, station_ids: list[str]) -> None:
        self._file.changed(self.state)
        super()._changed(station_ids)

    async def flush(self) -> None:
        await self._file.flush()

"""The id tag registry copy: kept in memory, fed by `id-tag-registry.*` messages from the
registry exchange (through the station registry adapter's queue, as a `RegistryFeed`) and kept
in a file, so a restarted gateway answers the cards it knew while save-server is down."""

from __future__ import annotations

import json
import pathlib
from typing import Any

import structlog

from ocpp_events.domain.id_tags import (
    PREFIX,
    SNAPSHOT_REQUESTED,
    ActiveCharges,
    ChargeRef,
    IdTag,
    IdTagState,
)
from ocpp_events.domain.ports import IdTagDirectory, IdTagListener
from ocpp_events.domain.station_registry import InvalidRegistryEvent
from ocpp_events.infrastructure import registry_file

log = structlog.get_logger("ocpp_events.id_tags")


class IdTagCopy(IdTagDirectory):
    prefix = PREFIX
    snapshot_requested = SNAPSHOT_REQUESTED

    def __init__(self, path: pathlib.Path | None = None) -> None:
        self.state = registry_file.load(path, IdTagState.from_document, IdTagState)
        self.invalid_messages = 0
        self._file = registry_file.RegistryFile(path)
        self._listeners: list[IdTagListener] = []

    def get(self, id_tag: str) -> IdTag | None:
        return self.state.get(id_tag)

    def active_charges(self, id_tag: str) -> ActiveCharges | None:
        return self.state.active_charges(id_tag)

    def owner(self, charge: ChargeRef) -> str | None:
        return self.state.owners.get(charge)

    def __len__(self) -> int:
        return len(self.state.tags)

    def on_change(self, listener: IdTagListener) -> None:
        self._listeners.append(listener)

    def apply(self, event: dict[str, Any]) -> list[str]:
        changed = self.state.apply(event)
        if changed:
            self._file.changed(self.state)
            for listener in self._listeners:
                try:
                    listener(changed)
                except Exception:  # the change is applied; one listener must not stop others
                    log.exception("id tag listener failed")
        return changed

    def receive(self, body: bytes) -> list[str]:
        """A message from the broker: applied, or counted and logged when it is outside the
        contract (then dropped: redelivering it would never make it valid)."""
        try:
            event = json.loads(body)
            if not isinstance(event, dict):
                raise InvalidRegistryEvent("not a JSON object")
            return self.apply(event)
        except (ValueError, InvalidRegistryEvent) as error:
            self.invalid_messages += 1
            log.error("id tag registry message dropped", error=str(error)[:300])
            return []

    async def flush(self) -> None:
        await self._file.flush()

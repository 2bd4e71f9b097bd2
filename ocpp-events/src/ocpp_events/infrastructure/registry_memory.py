"""The station registry kept in memory only: the tests' fake and the base of the broker-fed
adapters, which add a transport and a file."""

from __future__ import annotations

import json
from typing import Any

import structlog

from ocpp_events.domain.ports import RegistryListener, StationRegistry
from ocpp_events.domain.station_registry import (
    InvalidRegistryEvent,
    RegisteredStation,
    RegistryState,
)

log = structlog.get_logger("ocpp_events.registry")


class InMemoryStationRegistry(StationRegistry):
    def __init__(self, state: RegistryState | None = None) -> None:
        self.state = state or RegistryState()
        self.invalid_messages = 0
        self._listeners: list[RegistryListener] = []

    def on_change(self, listener: RegistryListener) -> None:
        self._listeners.append(listener)

    def get(self, station_id: str) -> RegisteredStation | None:
        return self.state.stations.get(station_id)

    def __len__(self) -> int:
        return len(self.state.stations)

    def apply(self, event: dict[str, Any]) -> list[str]:
        """Apply one registry event and tell the listeners which stations changed."""
        changed = self.state.apply(event)
        if changed:
            self._changed(changed)
        return changed

    def receive(self, body: bytes) -> list[str]:
        """A message from the broker: applied, or counted and logged when it is not a
        registry event (it is then dropped: redelivering it would never make it valid)."""
        try:
            event = json.loads(body)
            if not isinstance(event, dict):
                raise InvalidRegistryEvent("not a JSON object")
            return self.apply(event)
        except (ValueError, InvalidRegistryEvent) as error:
            self.invalid_messages += 1
            log.error("registry message dropped", error=str(error)[:300])
            return []

    def _changed(self, station_ids: list[str]) -> None:
        for listener in self._listeners:
            try:
                listener(station_ids)
            except Exception:  # the change is applied; one listener must not stop the others
                log.exception("registry listener failed", stations=station_ids[:10])

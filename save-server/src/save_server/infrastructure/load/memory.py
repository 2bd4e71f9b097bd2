"""An in-memory LoadStore: for tests and benchmarks of the load-management service."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from save_server.domain.business_events import BusinessEvent
from save_server.domain.load.allocator import BuildingLoad
from save_server.domain.load.model import ElectricalModel
from save_server.domain.load.ports import LoadStore


class MemoryLoadStore(LoadStore):
    def __init__(self, *models: ElectricalModel) -> None:
        self._models = {m.site_id: m for m in models}
        self._loads: dict[str, BuildingLoad] = {}
        self.events: list[BusinessEvent] = []
        self.powers: dict[str, dict[str, Any]] = {}

    def save_model(self, model: ElectricalModel, event: BusinessEvent) -> None:
        self._models[model.site_id] = model
        self.events.append(event)

    def model(self, site_id: str) -> ElectricalModel | None:
        return self._models.get(site_id)

    def models(self) -> list[ElectricalModel]:
        return list(self._models.values())

    def record_load(self, site_id: str, load: BuildingLoad, event: BusinessEvent) -> None:
        self._loads[site_id] = load
        self.events.append(event)

    def load(self, site_id: str) -> BuildingLoad | None:
        return self._loads.get(site_id)

    def apply_model(self, event_id: str, model: ElectricalModel, at: datetime) -> bool:
        self._models[model.site_id] = model
        return True

    def apply_load(self, event_id: str, site_id: str, load: BuildingLoad) -> bool:
        self._loads[site_id] = load
        return True

    def save_power(self, site_id: str, document: dict[str, Any], at: datetime) -> None:
        self.powers[site_id] = document

    def power(self, site_id: str) -> dict[str, Any] | None:
        return self.powers.get(site_id)

    def publish(self, event: BusinessEvent) -> None:
        self.events.append(event)

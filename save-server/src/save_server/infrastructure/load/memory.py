"""An in-memory LoadStore: for tests and benchmarks of the load-management service. It keeps
the port's contract (tests/contract/test_save_load_store_contract.py): later measurements and
models win, each replayed event applies once."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from save_server.domain.business_events import BusinessEvent
from save_server.domain.load.allocator import BuildingLoad
from save_server.domain.load.model import ConnectorKey, ElectricalModel, InvalidElectricalModel
from save_server.domain.load.ports import AllocationRound, LoadStore
from save_server.domain.load.rotation import Turn


class MemoryLoadStore(LoadStore):
    def __init__(self, *models: ElectricalModel,
                 group_exists: Callable[[str], bool] = lambda group_id: True) -> None:
        self._models = {m.site_id: m for m in models}
        self._group_exists = group_exists  # of the id tags context; default: every group
        self._model_at: dict[str, datetime] = {}
        self._loads: dict[str, BuildingLoad] = {}
        self._applied: set[str] = set()
        self.events: list[BusinessEvent] = []
        self.powers: dict[str, dict[str, Any]] = {}
        self._turns: dict[str, tuple[datetime, dict[ConnectorKey, Turn]]] = {}

    def save_model(self, model: ElectricalModel, event: BusinessEvent) -> None:
        for group_id, _ in model.group_priorities:
            if not self._group_exists(group_id):
                raise InvalidElectricalModel.unknown_group(group_id)
        self._put_model(model, event.occurred_at)
        self._commit(event)

    def model(self, site_id: str) -> ElectricalModel | None:
        return self._models.get(site_id)

    def models(self) -> list[ElectricalModel]:
        return [self._models[s] for s in sorted(self._models)]

    def record_load(self, site_id: str, load: BuildingLoad, event: BusinessEvent) -> None:
        self._put_load(site_id, load)
        self._commit(event)

    def load(self, site_id: str) -> BuildingLoad | None:
        return self._loads.get(site_id)

    def apply_model(self, event_id: str, model: ElectricalModel, at: datetime) -> bool:
        if not self._mark(event_id):
            return False
        kept = self._model_at.get(model.site_id)
        if kept is None or kept <= at:
            self._put_model(model, at)
        return True

    def apply_load(self, event_id: str, site_id: str, load: BuildingLoad) -> bool:
        if not self._mark(event_id):
            return False
        self._put_load(site_id, load)
        return True

    def power(self, site_id: str) -> dict[str, Any] | None:
        return self.powers.get(site_id)

    def record_rounds(self, rounds: Sequence[AllocationRound]) -> None:
        for r in rounds:
            if r.event is not None:
                self._commit(r.event)
                if r.turns is not None:
                    self._put_turns(r.site_id, r.turns, r.at)
            self.powers[r.site_id] = r.power

    def turns(self, site_id: str) -> dict[ConnectorKey, Turn]:
        kept = self._turns.get(site_id)
        return dict(kept[1]) if kept else {}

    def apply_turns(self, event_id: str, site_id: str, turns: Mapping[ConnectorKey, Turn],
                    at: datetime) -> bool:
        if not self._mark(event_id):
            return False
        self._put_turns(site_id, turns, at)
        return True

    def _put_turns(self, site_id: str, turns: Mapping[ConnectorKey, Turn],
                   at: datetime | None) -> None:
        kept = self._turns.get(site_id)
        if at is not None and (kept is None or kept[0] <= at):
            self._turns[site_id] = (at, dict(turns))

    def publish(self, event: BusinessEvent) -> None:
        self._commit(event)

    def _commit(self, event: BusinessEvent) -> None:
        self.events.append(event)
        if event.event_id:
            self._applied.add(event.event_id)

    def _mark(self, event_id: str) -> bool:
        if event_id in self._applied:
            return False
        self._applied.add(event_id)
        return True

    def _put_model(self, model: ElectricalModel, at: datetime | None) -> None:
        self._models[model.site_id] = model
        if at is not None:
            self._model_at[model.site_id] = at

    def _put_load(self, site_id: str, load: BuildingLoad) -> None:
        kept = self._loads.get(site_id)
        if kept is None or kept.measured_at <= load.measured_at:
            self._loads[site_id] = load

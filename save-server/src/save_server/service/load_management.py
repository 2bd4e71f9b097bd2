"""Use cases of site load management: a site's electrical model, its building load, and what
its connectors are allowed now (`power`). The recomputation on charger events and the
profiles sent are in `service/load_allocation.py`."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from save_server.domain.business_events import BusinessEvent
from save_server.domain.load.allocator import BuildingLoad
from save_server.domain.load.documents import load_document, model_document
from save_server.domain.load.model import (
    SUPPLY_MAX_A,
    ElectricalModel,
    InvalidElectricalModel,
    check_model,
)
from save_server.domain.load.ports import LoadStore
from save_server.domain.registry import RegistryStore

MODEL_SET = "load-management.electrical-model-set"
MEASURED = "load-management.measurement-recorded"
ALLOCATION = "load-management.allocation"
CLOCK_SKEW = timedelta(seconds=60)  # a meter's clock may run this far ahead of ours

Clock = Callable[[], datetime]
GroupExists = Callable[[str], bool]  # an id tag group of that id exists (the id tags context)


def measurement_event(site_id: str, load: BuildingLoad, by: str, at: datetime
                      ) -> BusinessEvent:
    return BusinessEvent(MEASURED, load_document(site_id, load), by, None,
                         event_id=str(uuid.uuid4()), occurred_at=at)


class UnknownSite(LookupError):
    pass


class NoElectricalModel(LookupError):
    """The site exists but has no electrical model yet."""


class InvalidMeasurement(ValueError):
    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field_name = field_name


class LoadManagement:
    def __init__(self, store: LoadStore, registry: RegistryStore,
                 group_exists: GroupExists,
                 clock: Clock = lambda: datetime.now(UTC),
                 on_change: Callable[[str], None] = lambda site_id: None,
                 on_measured: Callable[[str, BuildingLoad], None] | None = None) -> None:
        self._store, self._registry, self._clock = store, registry, clock
        self._group_exists = group_exists
        self._on_change = on_change  # a site to recompute
        self._on_measured = on_measured or (lambda site_id, load: on_change(site_id))

    def _event(self, kind: str, by: str, payload: Mapping[str, Any]) -> BusinessEvent:
        return BusinessEvent(kind, payload, by, None, event_id=str(uuid.uuid4()),
                             occurred_at=self._clock())

    def _require_site(self, site_id: str) -> None:
        if self._registry.site(site_id) is None:
            raise UnknownSite(f"no site {site_id}")

    def set_model(self, model: ElectricalModel, by: str) -> ElectricalModel:
        """Raises UnknownSite, InvalidElectricalModel."""
        self._require_site(model.site_id)
        check_model(model)
        stations = [("connectors", c.station_id) for c in model.connectors]
        if model.building_meter is not None:
            stations.append(("building_meter", model.building_meter[0]))
        for field_name, station_id in stations:
            registration = self._registry.registration(station_id)
            if registration is None or registration.site_id != model.site_id:
                raise InvalidElectricalModel(
                    field_name, f"station {station_id!r} is not registered at "
                                f"site {model.site_id}")
        # Only here, not in check_model: a stored model replays even if its group is gone.
        # The store checks again as it commits (a group deleted meanwhile).
        for group_id, _ in model.group_priorities:
            if not self._group_exists(group_id):
                raise InvalidElectricalModel.unknown_group(group_id)
        self._store.save_model(model, self._event(MODEL_SET, by, model_document(model)))
        self._on_change(model.site_id)
        return model

    def model(self, site_id: str) -> ElectricalModel:
        """Raises UnknownSite, NoElectricalModel."""
        self._require_site(site_id)
        model = self._store.model(site_id)
        if model is None:
            raise NoElectricalModel(f"site {site_id} has no electrical model")
        return model

    def record_measurement(self, site_id: str, per_phase: Mapping[str, float],
                           measured_at: datetime, by: str) -> BuildingLoad:
        """The building's own load per phase. Raises UnknownSite, NoElectricalModel,
        InvalidMeasurement."""
        model = self.model(site_id)
        if measured_at.tzinfo is None:
            raise InvalidMeasurement("measured_at", "give the time with its offset (UTC: Z)")
        if measured_at > self._clock() + CLOCK_SKEW:
            raise InvalidMeasurement("measured_at", "the measurement is in the future")
        if not per_phase:
            raise InvalidMeasurement("per_phase_a", "give at least one phase")
        ceiling = SUPPLY_MAX_A[model.supply]
        for phase, amps in per_phase.items():
            if phase not in model.supply.phases:
                raise InvalidMeasurement("per_phase_a", f"phase {phase} does not exist on a "
                                                        f"{model.supply} site")
            if not 0 <= amps <= ceiling:
                raise InvalidMeasurement("per_phase_a", f"{phase}: a load is between 0 and "
                                                        f"{ceiling:g} A")
        load = BuildingLoad(dict(per_phase), measured_at.astimezone(UTC))
        self._store.record_load(site_id, load,
                                measurement_event(site_id, load, by, self._clock()))
        self._on_measured(site_id, load)
        return load

    def building_load(self, site_id: str) -> BuildingLoad | None:
        return self._store.load(site_id)

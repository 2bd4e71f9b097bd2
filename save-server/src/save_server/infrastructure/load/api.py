"""Site load management over HTTP: `/sites/{id}/electrical`, `/sites/{id}/measurements`,
`/sites/{id}/power` (docs/load-management.md). A scoped caller gets 404 for a site outside
its scope, as for `/sites/{id}`."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from save_server.domain.access import Permission, Principal
from save_server.domain.id_tags import GROUP_ID_MAX
from save_server.domain.load.documents import load_document, model_document
from save_server.domain.load.model import (
    DEFAULT_MARGIN,
    DEFAULT_MAX_A,
    DEFAULT_MEASUREMENT_MAX_AGE_S,
    DEFAULT_MIN_A,
    Circuit,
    ConnectorSupply,
    ElectricalModel,
    InvalidElectricalModel,
    Supply,
    limit_from_kw,
)
from save_server.infrastructure.api.errors import invalid
from save_server.infrastructure.api.security import allow
from save_server.service.load_management import (
    InvalidMeasurement,
    LoadManagement,
    NoElectricalModel,
    UnknownSite,
)
from save_server.service.registry import RegistryService

router = APIRouter(tags=["site load management"])
Reader = Annotated[Principal, allow(Permission.STATIONS_READ)]
Manager = Annotated[Principal, allow(Permission.STATIONS_WRITE)]
Meter = Annotated[Principal, allow(Permission.SITE_MEASUREMENTS_WRITE)]
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "Unknown site, outside the caller's scope, or no electrical model"}}
Phase = Literal["L1", "L2", "L3"]
Amperes = Annotated[float, Field(ge=0, le=100_000)]


class CircuitIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    circuit_id: str = Field(min_length=1, max_length=64)
    limit_a: float = Field(le=100_000)
    parent_id: str | None = Field(default=None, max_length=64)


class ConnectorIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    charging_station_id: str = Field(min_length=1, max_length=48)
    connector_id: int = Field(ge=1, le=1000, description="1.6 connectorId; 2.0.1 EVSE id")
    phases: list[Phase] = Field(min_length=1, max_length=3,
                                description="the site's phases the charger's L1, L2, L3 use")
    circuit_id: str | None = Field(default=None, max_length=64)
    min_a: Amperes = DEFAULT_MIN_A
    max_a: Amperes = DEFAULT_MAX_A
    priority: int = Field(default=0, ge=0, le=10)


class GroupPriorityIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    group_id: str = Field(min_length=1, max_length=GROUP_ID_MAX,
                          description="an existing id tag group (`/id-tag-groups`)")
    priority: int = Field(ge=0, le=10, description="of its charges on this site (higher first)")


class MeterIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    charging_station_id: str = Field(min_length=1, max_length=48)
    connector_id: int = Field(default=0, ge=0, le=1000, description="0: the station's meter")


class ElectricalIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    supply: Supply
    voltage_v: float = Field(description="phase-to-neutral, e.g. 127 or 220", le=100_000)
    limit_a: float | None = Field(default=None, le=100_000, description="per phase")
    limit_kw: float | None = Field(default=None, le=100_000,
                                   description="instead of limit_a: converted per phase")
    margin: float = DEFAULT_MARGIN
    building_metered: bool = False
    measurement_max_age_s: float = Field(default=DEFAULT_MEASUREMENT_MAX_AGE_S, le=86_400)
    building_fallback_a: float | None = Field(default=None, le=100_000)
    building_meter: MeterIn | None = Field(
        default=None, description="a station whose MeterValues (Current.Import per phase) "
                                  "measure the building's own load")
    circuits: list[CircuitIn] = Field(default_factory=list, max_length=500)
    connectors: list[ConnectorIn] = Field(default_factory=list, max_length=2000)
    group_priorities: list[GroupPriorityIn] = Field(
        default_factory=list, max_length=500,
        description="a charge whose id tag belongs to the group gets at least this priority")

    @model_validator(mode="after")
    def _one_limit(self) -> ElectricalIn:
        if (self.limit_a is None) == (self.limit_kw is None):
            raise ValueError("give exactly one of limit_a and limit_kw")
        return self

    def model(self, site_id: str) -> ElectricalModel:
        limit = self.limit_a
        if limit is None:  # in kW; a voltage of 0 is refused by the model's own check
            limit = (limit_from_kw(float(self.limit_kw or 0), self.supply, self.voltage_v)
                     if self.voltage_v > 0 else 0.0)
        return ElectricalModel(
            site_id, self.supply, self.voltage_v, float(limit), self.margin,
            tuple(Circuit(c.circuit_id, c.limit_a, c.parent_id) for c in self.circuits),
            tuple(ConnectorSupply(c.charging_station_id, c.connector_id, tuple(c.phases),
                                  c.circuit_id, c.min_a, c.max_a, c.priority)
                  for c in self.connectors),
            self.building_metered, self.measurement_max_age_s, self.building_fallback_a,
            None if self.building_meter is None else (self.building_meter.charging_station_id,
                                                      self.building_meter.connector_id),
            tuple((g.group_id, g.priority) for g in self.group_priorities))


class MeasurementIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    per_phase_a: dict[Phase, Amperes] = Field(min_length=1)
    measured_at: AwareDatetime


def _load(request: Request) -> LoadManagement:
    return request.app.state.load_management  # type: ignore[no-any-return]


def _require_visible(request: Request, caller: Principal, site_id: str) -> None:
    """404 for a site outside a scoped caller's scope (the same rule as GET /sites/{id})."""
    if caller.station_scope is None or site_id in (caller.site_scope or ()):
        return
    registry: RegistryService = request.app.state.registry
    if not any(r.site_id == site_id and caller.sees_station(r.station_id)
               for r in registry.list_registrations()):
        raise HTTPException(404, f"no site {site_id}")


def _refusal(error: Exception) -> HTTPException:
    if isinstance(error, UnknownSite | NoElectricalModel):
        return HTTPException(404, str(error))
    if isinstance(error, InvalidElectricalModel | InvalidMeasurement):
        return invalid("body", error.field_name, str(error))
    raise error


@router.put("/sites/{site_id}/electrical", responses=NOT_FOUND)
def put_electrical(request: Request, caller: Manager, site_id: str,
                   body: ElectricalIn) -> dict[str, Any]:
    _require_visible(request, caller, site_id)
    try:
        return model_document(_load(request).set_model(body.model(site_id), caller.audit_name))
    except (UnknownSite, InvalidElectricalModel) as error:
        raise _refusal(error) from error


@router.get("/sites/{site_id}/electrical", responses=NOT_FOUND)
def get_electrical(request: Request, caller: Reader, site_id: str) -> dict[str, Any]:
    _require_visible(request, caller, site_id)
    try:
        return model_document(_load(request).model(site_id))
    except (UnknownSite, NoElectricalModel) as error:
        raise _refusal(error) from error


@router.post("/sites/{site_id}/measurements", status_code=201, responses=NOT_FOUND)
def post_measurement(request: Request, caller: Meter, site_id: str,
                     body: MeasurementIn) -> dict[str, Any]:
    _require_visible(request, caller, site_id)
    try:
        load = _load(request).record_measurement(site_id, body.per_phase_a, body.measured_at,
                                                 caller.audit_name)
    except (UnknownSite, NoElectricalModel, InvalidMeasurement) as error:
        raise _refusal(error) from error
    return load_document(site_id, load)


@router.get("/sites/{site_id}/power", responses=NOT_FOUND)
def get_power(request: Request, caller: Reader, site_id: str) -> dict[str, Any]:
    _require_visible(request, caller, site_id)
    try:
        model = _load(request).model(site_id)
    except (UnknownSite, NoElectricalModel) as error:
        raise _refusal(error) from error
    return request.app.state.load_allocation.power(model)  # type: ignore[no-any-return]

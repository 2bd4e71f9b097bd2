"""Charging stations: list, detail, operator-entered data."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Query, Response

from save_server.domain.access import Permission, Principal
from save_server.domain.model import InvalidStationData
from save_server.domain.rules import StationStatus
from save_server.infrastructure.api.dependencies import Deps
from save_server.infrastructure.api.errors import invalid
from save_server.infrastructure.api.schemas import StationDataIn, StationOut
from save_server.infrastructure.api.security import allow
from save_server.service.stations import (
    StationNotFound,
    get_station,
    list_stations,
    update_station_details,
)

router = APIRouter(tags=["charging stations"])

NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "Unknown station"}}
Reader = Annotated[Principal, allow(Permission.STATIONS_READ)]
Writer = Annotated[Principal, allow(Permission.STATIONS_WRITE)]


@router.get("/charging-stations", response_model=list[StationOut])
def charging_stations(deps: Deps, caller: Reader, status: Annotated[
        StationStatus | None, Query(description="Only stations in this state")] = None
        ) -> Response:
    """Every station (that you may see) with its connectors; an empty list when none
    matches."""
    document = list_stations(deps.station_reader, status)
    if caller.station_scope is None:
        return _json(document)
    visible = [s for s in json.loads(document) if caller.sees_station(s["id"])]
    return _json(json.dumps(visible, ensure_ascii=False, separators=(",", ":")))


@router.get("/charging-stations/{station_id}", response_model=StationOut, responses=NOT_FOUND)
def charging_station(deps: Deps, caller: Reader, station_id: str) -> Response:
    return _station(deps, caller, station_id)


def _station(deps: Deps, caller: Principal, station_id: str) -> Response:
    try:
        if not caller.sees_station(station_id):
            raise StationNotFound(station_id)
        return _json(get_station(deps.station_reader, station_id))
    except StationNotFound as error:
        raise HTTPException(404, str(error)) from error


def _json(document: str) -> Response:
    """The stored documents as they are: their shape is `StationOut`'s, without validating
    thousands of models per request."""
    return Response(document, media_type="application/json")


def _update(deps: Deps, caller: Principal, station_id: str, data: StationDataIn) -> Response:
    if not caller.sees_station(station_id):
        raise HTTPException(404, str(StationNotFound(station_id)))
    details = data.model_dump(include=data.model_fields_set)
    if not details:
        raise invalid("body", "name", "give at least one of name, address, latitude, longitude")
    try:
        update_station_details(deps.uow_factory, station_id, details)
    except StationNotFound as error:
        raise HTTPException(404, str(error)) from error
    except InvalidStationData as error:
        raise invalid("body", error.field_name, str(error)) from error
    return _station(deps, caller, station_id)


Data = Annotated[StationDataIn, Body()]


@router.post("/charging-station/{station_id}/data", response_model=StationOut,
             responses=NOT_FOUND)
def post_station_data(deps: Deps, caller: Writer, station_id: str, data: Data) -> Response:
    """The thesis's path: set any of name, address, latitude, longitude."""
    return _update(deps, caller, station_id, data)


@router.patch("/charging-stations/{station_id}", response_model=StationOut,
              responses=NOT_FOUND)
def patch_station(deps: Deps, caller: Writer, station_id: str, data: Data) -> Response:
    """Same as POST /charging-station/{id}/data."""
    return _update(deps, caller, station_id, data)

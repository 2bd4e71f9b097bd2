"""JSON shapes of the REST API (snake_case). A station's shape (`StationOut`) documents the
document `infrastructure/db/documents` writes, which the API serves as it is stored."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from save_server.domain.model import Charge, MeterSample
from save_server.domain.rules import (
    LATITUDE_RANGE,
    LONGITUDE_RANGE,
    ChargeStatus,
    ConnectorStatus,
    StationStatus,
)


class ReadingOut(BaseModel):
    measurand: str
    value: float
    unit: str | None
    phase: str | None
    measured_at: datetime

    @classmethod
    def of(cls, sample: MeterSample) -> ReadingOut:
        return cls(measurand=sample.measurand.value, value=sample.value, unit=sample.unit,
                   phase=sample.phase, measured_at=sample.at)


class AvailabilityOut(BaseModel):
    status: ConnectorStatus
    raw_status: str | None
    error_code: str | None
    info: str | None
    at: datetime


class ConnectorOut(BaseModel):
    connector_id: int
    status: ConnectorStatus | None
    raw_status: str | None
    error_code: str | None
    info: str | None
    status_at: datetime | None
    id_tag: str | None
    last_used_at: datetime | None


class StationOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "CP-001", "status": "connected",
        "first_connected_at": "2026-11-20T08:00:00Z", "last_connected_at": "2026-11-25T11:58:00Z",
        "last_seen_at": "2026-11-25T12:00:00Z", "vendor": "ACME", "model": "Wallbox 22",
        "serial_number": "SN-1", "firmware_version": "1.2.3", "name": "Garage A",
        "address": "Rua das Flores 1, Lisboa", "latitude": 38.72, "longitude": -9.14,
        "availability": None, "readings": [], "connectors": [{
            "connector_id": 1, "status": "in_use", "raw_status": "Charging",
            "error_code": "NoError", "info": None, "status_at": "2026-11-25T11:59:00Z",
            "id_tag": "ABC123", "last_used_at": "2026-11-24T18:30:00Z"}],
    }]})

    id: str
    status: StationStatus
    first_connected_at: datetime | None
    last_connected_at: datetime | None
    last_seen_at: datetime | None
    vendor: str | None
    model: str | None
    serial_number: str | None
    firmware_version: str | None
    name: str | None
    address: str | None
    latitude: float | None
    longitude: float | None
    availability: AvailabilityOut | None
    readings: list[ReadingOut]
    connectors: list[ConnectorOut]


class StationDataIn(BaseModel):
    """Operator-entered station data: any of the fields, at least one; others are kept."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"name": "Garage A", "latitude": 38.72, "longitude": -9.14}]})

    name: Annotated[str | None, Field(max_length=200)] = None
    address: str | None = None
    latitude: Annotated[float | None, Field(ge=LATITUDE_RANGE[0], le=LATITUDE_RANGE[1])] = None
    longitude: Annotated[float | None,
                         Field(ge=LONGITUDE_RANGE[0], le=LONGITUDE_RANGE[1])] = None


CHARGE_FIELDS = ("id", "charging_station_id", "connector_id", "transaction_id", "id_tag",
                 "status", "stop_reason", "started_at", "ended_at", "energy_wh",
                 "duration_seconds", "unauthorized", "id_tag_holder", "id_tag_group")


class ChargeOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": 42, "charging_station_id": "CP-001", "connector_id": 1,
        "transaction_id": "1234567", "id_tag": "ABC123", "status": "finished",
        "stop_reason": "Local", "started_at": "2026-11-25T10:00:00Z",
        "ended_at": "2026-11-25T11:00:00Z", "energy_wh": 7400.0, "duration_seconds": 3600.0,
        "meter_start_wh": 1000.0, "meter_stop_wh": 8400.0}]})

    id: int
    charging_station_id: str
    connector_id: int | None
    transaction_id: str
    id_tag: str | None
    status: ChargeStatus
    stop_reason: str | None
    started_at: datetime | None
    ended_at: datetime | None
    energy_wh: float | None
    duration_seconds: float | None
    meter_start_wh: float | None
    meter_stop_wh: float | None
    unauthorized: bool | None = Field(None, description=(
        "The start's id tag was not Accepted, yet the station charged (null: not known)"))
    id_tag_holder: str | None = Field(None, description="The tag's holder at the start")
    id_tag_group: str | None = Field(None, description="The tag's group at the start")

    @classmethod
    def of(cls, charge: Charge) -> ChargeOut:
        assert charge.id is not None
        return cls(
            id=charge.id, charging_station_id=charge.station_id,
            connector_id=charge.connector_id, transaction_id=charge.transaction_id,
            id_tag=charge.id_tag, status=charge.status, stop_reason=charge.stop_reason,
            started_at=charge.started_at, ended_at=charge.ended_at, energy_wh=charge.energy_wh,
            duration_seconds=charge.duration_seconds, meter_start_wh=charge.meter_start_wh,
            meter_stop_wh=charge.meter_stop_wh, unauthorized=charge.unauthorized,
            id_tag_holder=charge.id_tag_holder, id_tag_group=charge.id_tag_group,
        )


class ChargeDetailOut(ChargeOut):
    meter_values: list[ReadingOut]

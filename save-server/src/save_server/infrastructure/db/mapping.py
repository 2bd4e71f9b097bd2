"""Rows ↔ domain objects, shared by the repositories and the readers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from save_server.domain.model import (
    BootInfo,
    Charge,
    Connector,
    FactSource,
    MeterSample,
    Station,
    StatusReport,
)
from save_server.domain.rules import ConnectorStatus, Measurand

Row = Mapping[str, Any]


def station_from_row(row: Row) -> Station:
    station = Station(
        station_id=row["station_id"],
        known_first_connected_at=row["first_connected_at"],
        known_last_seen_at=row["last_seen_at"],
        boot_info=BootInfo(row["vendor"], row["model"], row["serial_number"],
                           row["firmware_version"]),
        boot_info_at=row["boot_info_at"],
        name=row["name"], address=row["address"],
        latitude=row["latitude"], longitude=row["longitude"],
    )
    if row["availability_status"] is not None:
        station.availability = StatusReport(
            row["availability_at"], ConnectorStatus(row["availability_status"]),
            row["availability_raw_status"], row["availability_error_code"],
            row["availability_info"])
    return station


def station_row(station: Station) -> dict[str, Any]:
    availability = station.availability
    summary = station.connection_summary()
    return {
        "station_id": station.station_id,
        "status": summary.status.value,
        "first_connected_at": summary.first_connected_at,
        "last_connected_at": summary.last_connected_at,
        "last_seen_at": summary.last_seen_at,
        "vendor": station.boot_info.vendor,
        "model": station.boot_info.model,
        "serial_number": station.boot_info.serial_number,
        "firmware_version": station.boot_info.firmware_version,
        "boot_info_at": station.boot_info_at,
        "name": station.name, "address": station.address,
        "latitude": station.latitude, "longitude": station.longitude,
        "availability_status": availability.status.value if availability else None,
        "availability_raw_status": availability.raw_status if availability else None,
        "availability_error_code": availability.error_code if availability else None,
        "availability_info": availability.info if availability else None,
        "availability_at": availability.at if availability else None,
    }


def connector_from_row(row: Row) -> Connector:
    return Connector(
        connector_id=row["connector_id"],
        status=ConnectorStatus(row["status"]) if row["status"] else None,
        raw_status=row["raw_status"], error_code=row["error_code"], info=row["info"],
        status_at=row["status_at"], last_used_at=row["last_used_at"],
        last_available_at=row["last_available_at"], assigned_id_tag=row["id_tag"],
        id_tag_at=row["id_tag_at"], history_horizon=row["history_horizon"],
        used_before_horizon=row["used_before_horizon"],
    )


def connector_row(station_id: str, connector: Connector) -> dict[str, Any]:
    return {
        "station_id": station_id, "connector_id": connector.connector_id,
        "status": connector.status.value if connector.status else None,
        "raw_status": connector.raw_status, "error_code": connector.error_code,
        "info": connector.info, "status_at": connector.status_at,
        "last_used_at": connector.last_used_at, "last_available_at": connector.last_available_at,
        "id_tag": connector.assigned_id_tag, "id_tag_at": connector.id_tag_at,
        "history_horizon": connector.history_horizon,
        "used_before_horizon": connector.used_before_horizon,
    }


def report_from_row(row: Row) -> StatusReport:
    return StatusReport(row["reported_at"], ConnectorStatus(row["status"]), row["raw_status"],
                        row["error_code"], row["info"],
                        FactSource(row["source"] or FactSource.STATUS.value),
                        row["received_at"], row["connection_id"], row["evse_connector_id"])


def report_row(station_id: str, connector_id: int, report: StatusReport) -> dict[str, Any]:
    return {
        "station_id": station_id, "connector_id": connector_id, "reported_at": report.at,
        "status": report.status.value, "raw_status": report.raw_status,
        "error_code": report.error_code, "info": report.info,
        "source": None if report.source is FactSource.STATUS else report.source.value,
        "received_at": report.received_at, "connection_id": report.connection_id,
        "evse_connector_id": report.evse_connector_id,
    }


def sample_from_row(row: Row) -> MeterSample:
    return MeterSample(row["measured_at"], Measurand(row["measurand"]), row["value"],
                       row["unit"], row["phase"] or None)


def charge_from_row(row: Row) -> Charge:
    return Charge(
        id=row["id"], station_id=row["station_id"], transaction_id=row["transaction_id"],
        connector_id=row["connector_id"], id_tag=row["id_tag"],
        meter_start_wh=row["meter_start_wh"], meter_stop_wh=row["meter_stop_wh"],
        started_at=row["started_at"], ended_at=row["ended_at"], stopped=row["stopped"],
        stop_reason=row["stop_reason"], unauthorized=row["unauthorized"],
        id_tag_holder=row["id_tag_holder"], id_tag_group=row["id_tag_group"],
    )


def charge_row(charge: Charge) -> dict[str, Any]:
    return {
        "connector_id": charge.connector_id, "id_tag": charge.id_tag,
        "meter_start_wh": charge.meter_start_wh, "meter_stop_wh": charge.meter_stop_wh,
        "started_at": charge.started_at, "ended_at": charge.ended_at,
        "stopped": charge.stopped, "stop_reason": charge.stop_reason,
        "status": charge.status.value, "energy_wh": charge.energy_wh,
        "duration_seconds": charge.duration_seconds, "sort_at": charge.sort_at,
        "unauthorized": charge.unauthorized, "id_tag_holder": charge.id_tag_holder,
        "id_tag_group": charge.id_tag_group,
    }

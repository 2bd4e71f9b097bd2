"""A station as the API lists it (the items of `GET /charging-stations`, exactly the shape of
`schemas.StationOut`), built without per-object model validation. The writers store it with
the station (PostgreSQL) so listing 10,000 stations is one scan of ready JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from save_server.domain.model import Connector, MeterSample, Station, StatusReport
from save_server.domain.views import StationView, view_of

_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _time(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _availability(report: StatusReport | None) -> dict[str, Any] | None:
    if report is None:
        return None
    return {"status": report.status.value, "raw_status": report.raw_status,
            "error_code": report.error_code, "info": report.info, "at": _time(report.at)}


def _reading(sample: MeterSample) -> dict[str, Any]:
    return {"measurand": sample.measurand.value, "value": sample.value, "unit": sample.unit,
            "phase": sample.phase, "measured_at": _time(sample.at)}


def _connector(connector: Connector) -> dict[str, Any]:
    return {"connector_id": connector.connector_id,
            "status": connector.status.value if connector.status else None,
            "raw_status": connector.raw_status, "error_code": connector.error_code,
            "info": connector.info, "status_at": _time(connector.status_at),
            "id_tag": connector.id_tag, "last_used_at": _time(connector.last_used_at)}


def station_json(station: StationView) -> dict[str, Any]:
    boot = station.boot_info
    return {
        "id": station.station_id, "status": station.status.value,
        "first_connected_at": _time(station.first_connected_at),
        "last_connected_at": _time(station.last_connected_at),
        "last_seen_at": _time(station.last_seen_at),
        "vendor": boot.vendor, "model": boot.model, "serial_number": boot.serial_number,
        "firmware_version": boot.firmware_version, "name": station.name,
        "address": station.address,
        "latitude": float(station.latitude) if station.latitude is not None else None,
        "longitude": float(station.longitude) if station.longitude is not None else None,
        "availability": _availability(station.availability),
        "readings": [_reading(r) for r in station.readings],
        "connectors": [_connector(c) for c in station.connectors],
    }


def dumps(content: Any) -> str:
    """Compact JSON, UTF-8 as is: the API's encoding."""
    return _encode(content)


def station_document(station: Station) -> str:
    return dumps(station_json(view_of(station)))

"""A station as the API lists it (the items of `GET /charging-stations`, exactly the shape of
`schemas.StationOut`), built without per-object model validation. The writers store it with
the station (PostgreSQL) so listing 10,000 stations is one scan of ready JSON."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from save_server.domain.model import Connector, MeterSample, Station, StatusReport
from save_server.domain.views import StationView, view_of

_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_encode_string = json.encoder.encode_basestring  # type: ignore[attr-defined]


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


# The document of one station is written by the worker for every station a batch changes, so
# it is formatted directly (about twice as fast as `dumps(station_json(...))`); a test checks
# that both give the same text, byte for byte.
def _str(value: str | None) -> str:
    return "null" if value is None else _encode_string(value)


def _num(value: float | None) -> str:
    if value is None:
        return "null"
    value = float(value)
    return repr(value) if math.isfinite(value) else _encode(value)  # json's own float text


@lru_cache(maxsize=32_768)  # most times of a station stay the same from one write to the next
def _at(value: datetime | None) -> str:
    if value is None:
        return "null"
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return f'"{value.replace(tzinfo=None).isoformat()}Z"'


def _availability_text(report: StatusReport | None) -> str:
    if report is None:
        return "null"
    return (f'{{"status":"{report.status.value}","raw_status":{_str(report.raw_status)},'
            f'"error_code":{_str(report.error_code)},"info":{_str(report.info)},'
            f'"at":{_at(report.at)}}}')


def _reading_text(sample: MeterSample) -> str:
    return (f'{{"measurand":"{sample.measurand.value}","value":{_num(sample.value)},'
            f'"unit":{_str(sample.unit)},"phase":{_str(sample.phase)},'
            f'"measured_at":{_at(sample.at)}}}')


def _connector_text(connector: Connector) -> str:
    status = f'"{connector.status.value}"' if connector.status else "null"
    return (f'{{"connector_id":{connector.connector_id},"status":{status},'
            f'"raw_status":{_str(connector.raw_status)},'
            f'"error_code":{_str(connector.error_code)},"info":{_str(connector.info)},'
            f'"status_at":{_at(connector.status_at)},"id_tag":{_str(connector.id_tag)},'
            f'"last_used_at":{_at(connector.last_used_at)}}}')


def view_document(station: StationView) -> str:
    """`dumps(station_json(station))`, faster."""
    boot = station.boot_info
    readings = ",".join([_reading_text(r) for r in station.readings])
    connectors = ",".join([_connector_text(c) for c in station.connectors])
    return (f'{{"id":{_str(station.station_id)},"status":"{station.status.value}",'
            f'"first_connected_at":{_at(station.first_connected_at)},'
            f'"last_connected_at":{_at(station.last_connected_at)},'
            f'"last_seen_at":{_at(station.last_seen_at)},"vendor":{_str(boot.vendor)},'
            f'"model":{_str(boot.model)},"serial_number":{_str(boot.serial_number)},'
            f'"firmware_version":{_str(boot.firmware_version)},"name":{_str(station.name)},'
            f'"address":{_str(station.address)},"latitude":{_num(station.latitude)},'
            f'"longitude":{_num(station.longitude)},'
            f'"availability":{_availability_text(station.availability)},'
            f'"readings":[{readings}],"connectors":[{connectors}]}}')


def station_document(station: Station) -> str:
    return view_document(view_of(station))

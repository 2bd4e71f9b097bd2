"""The one serialization of a station: its JSON document, exactly what the API serves for it
(the items of `GET /charging-stations`, whose documented shape is `schemas.StationOut`).

The writers store it with the station on every change, so the API reads ready documents and
never builds a station in Python per request. It is formatted directly rather than through
`json.dumps` of a dict (about twice as fast: the worker formats one for every station a batch
changes); the text is what `json.dumps(…, ensure_ascii=False, separators=(",", ":"))` would
give for the same values."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from functools import lru_cache

from save_server.domain.connector import EvseConnectorState
from save_server.domain.model import Connector, MeterSample, Station, StatusReport
from save_server.domain.views import StationView, view_of

_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_encode_string = json.encoder.encode_basestring  # type: ignore[attr-defined]


def _str(value: str | None) -> str:
    return "null" if value is None else _encode_string(value)


def _num(value: float | None) -> str:
    if value is None:
        return "null"
    value = float(value)
    return repr(value) if math.isfinite(value) else _encode(value)  # json's own float text


@lru_cache(maxsize=32_768)  # most times of a station stay the same from one write to the next
def _at(value: datetime | None) -> str:
    """UTC with `Z`, microseconds only when there are some."""
    if value is None:
        return "null"
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return f'"{value.replace(tzinfo=None).isoformat()}Z"'


def _status(status: str, raw_status: str | None, error_code: str | None,
            info: str | None) -> str:
    """The fields every status report shares (`status` already JSON)."""
    return (f'"status":{status},"raw_status":{_str(raw_status)},'
            f'"error_code":{_str(error_code)},"info":{_str(info)}')


def _availability(report: StatusReport | None) -> str:
    if report is None:
        return "null"
    fields = _status(f'"{report.status.value}"', report.raw_status, report.error_code,
                     report.info)
    return f'{{{fields},"at":{_at(report.at)}}}'


def _reading(sample: MeterSample) -> str:
    return (f'{{"measurand":"{sample.measurand.value}","value":{_num(sample.value)},'
            f'"unit":{_str(sample.unit)},"phase":{_str(sample.phase)},'
            f'"measured_at":{_at(sample.at)}}}')


def _evse_connector(state: EvseConnectorState) -> str:
    fields = _status(f'"{state.status.value}"', state.raw_status, state.error_code, state.info)
    return f'{{"connector_id":{state.connector_id},{fields},"status_at":{_at(state.at)}}}'


def _connector(connector: Connector) -> str:
    status = f'"{connector.status.value}"' if connector.status else "null"
    evse_connectors = ",".join([_evse_connector(c) for c in connector.evse_connectors])
    fields = _status(status, connector.raw_status, connector.error_code, connector.info)
    return (f'{{"connector_id":{connector.connector_id},{fields},'
            f'"status_at":{_at(connector.status_at)},"id_tag":{_str(connector.id_tag)},'
            f'"last_used_at":{_at(connector.last_used_at)},'
            f'"evse_connectors":[{evse_connectors}]}}')


def view_document(station: StationView) -> str:
    """The station's document, compact JSON, UTF-8 as is."""
    boot = station.boot_info
    readings = ",".join([_reading(r) for r in station.readings])
    connectors = ",".join([_connector(c) for c in station.connectors])
    return (f'{{"id":{_str(station.station_id)},"status":"{station.status.value}",'
            f'"first_connected_at":{_at(station.first_connected_at)},'
            f'"last_connected_at":{_at(station.last_connected_at)},'
            f'"last_seen_at":{_at(station.last_seen_at)},"vendor":{_str(boot.vendor)},'
            f'"model":{_str(boot.model)},"serial_number":{_str(boot.serial_number)},'
            f'"firmware_version":{_str(boot.firmware_version)},"name":{_str(station.name)},'
            f'"address":{_str(station.address)},"latitude":{_num(station.latitude)},'
            f'"longitude":{_num(station.longitude)},'
            f'"availability":{_availability(station.availability)},'
            f'"readings":[{readings}],"connectors":[{connectors}]}}')


def station_document(station: Station) -> str:
    return view_document(view_of(station))

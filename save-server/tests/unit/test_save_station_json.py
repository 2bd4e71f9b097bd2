"""A station's document (the one serialization the API serves) has exactly the documented shape
(`schemas.StationOut`, field by field and in order) and carries the station's values."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from save_server.domain.model import BootInfo, Connector, MeterSample, StatusReport
from save_server.domain.rules import ConnectorStatus, Measurand, StationStatus
from save_server.domain.views import StationView
from save_server.infrastructure.api.schemas import (
    AvailabilityOut,
    ConnectorOut,
    ReadingOut,
    StationOut,
)
from save_server.infrastructure.db.documents import view_document

T = datetime(2026, 11, 25, 8, 0, 0, 123456, tzinfo=UTC)


def _keys(model: type[BaseModel]) -> list[str]:
    return list(model.model_fields)


def _check(view: StationView) -> None:
    document = view_document(view)
    raw = json.loads(document)
    # compact JSON with non-ASCII as is: the text json.dumps gives for the same values
    assert document == json.dumps(raw, ensure_ascii=False, separators=(",", ":"))
    assert list(raw) == _keys(StationOut)
    assert all(list(c) == _keys(ConnectorOut) for c in raw["connectors"])
    assert all(list(r) == _keys(ReadingOut) for r in raw["readings"])
    assert raw["availability"] is None or list(raw["availability"]) == _keys(AvailabilityOut)
    station = StationOut.model_validate_json(document)
    boot = view.boot_info
    assert (station.id, station.status, station.first_connected_at, station.last_connected_at,
            station.last_seen_at) == (view.station_id, view.status, view.first_connected_at,
                                      view.last_connected_at, view.last_seen_at)
    assert (station.vendor, station.model, station.serial_number, station.firmware_version,
            station.name, station.address) == (boot.vendor, boot.model, boot.serial_number,
                                               boot.firmware_version, view.name, view.address)
    assert (station.latitude, station.longitude) == (view.latitude, view.longitude)
    report = view.availability
    assert (station.availability is None) == (report is None)
    if station.availability is not None and report is not None:
        assert (station.availability.status, station.availability.raw_status,
                station.availability.error_code, station.availability.info,
                station.availability.at) == (report.status, report.raw_status,
                                             report.error_code, report.info, report.at)
    assert [(r.measurand, r.value, r.unit, r.phase, r.measured_at) for r in station.readings] \
        == [(s.measurand.value, s.value, s.unit, s.phase, s.at) for s in view.readings]
    assert [(c.connector_id, c.status, c.raw_status, c.error_code, c.info, c.status_at,
             c.id_tag, c.last_used_at) for c in station.connectors] == [
        (c.connector_id, c.status, c.raw_status, c.error_code, c.info, c.status_at, c.id_tag,
         c.last_used_at) for c in view.connectors]


def test_a_full_and_a_bare_station() -> None:
    connector = Connector(1, ConnectorStatus.IN_USE, "Charging", "NoError", "hot", T, T, None,
                          "RFID", T + timedelta(seconds=1))
    view = StationView(
        station_id="CP-1", status=StationStatus.CONNECTED, first_connected_at=T,
        last_connected_at=T.replace(microsecond=0), last_seen_at=None,
        boot_info=BootInfo("ACME", "M", None, "1.0"), name="Garagem São João", address=None,
        latitude=38.5, longitude=-9.25,
        availability=StatusReport(T, ConnectorStatus.FAULTED, "Faulted", "GroundFailure"),
        connectors=[connector, Connector(2)],
        readings=[MeterSample(T, Measurand.VOLTAGE, 231.5, "V", "L1")],
    )
    _check(view)
    document = view_document(view)
    # times in UTC with Z, microseconds only when there are some; text as sent
    assert '"first_connected_at":"2026-11-25T08:00:00.123456Z"' in document
    assert '"last_connected_at":"2026-11-25T08:00:00Z"' in document
    assert '"name":"Garagem São João"' in document
    assert json.loads(document)["connectors"][0]["id_tag"] == "RFID"
    bare = StationView("CP-2", StationStatus.DISCONNECTED)
    _check(bare)
    assert json.loads(view_document(bare))["connectors"] == []


texts = st.none() | st.text(max_size=12)
times = st.none() | st.datetimes(
    min_value=datetime(1970, 1, 2), max_value=datetime(2100, 1, 1),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=-3)),
                               timezone(timedelta(hours=5, minutes=30))]))
numbers = st.none() | st.floats(allow_nan=False, allow_infinity=False) | st.integers(-5, 5)
statuses = st.sampled_from(list(ConnectorStatus))
connectors = st.builds(Connector, st.integers(0, 9), st.none() | statuses, texts, texts, texts,
                       times, times, times, texts, times)
samples = st.builds(MeterSample, st.datetimes(timezones=st.just(UTC)),
                    st.sampled_from(list(Measurand)),
                    st.floats(allow_nan=False, allow_infinity=False), texts, texts)
reports = st.none() | st.builds(StatusReport, st.datetimes(timezones=st.just(UTC)), statuses,
                                texts, texts, texts)
views = st.builds(StationView, st.text(min_size=1, max_size=12),
                  st.sampled_from(list(StationStatus)), times, times, times,
                  st.builds(BootInfo, texts, texts, texts, texts), texts, texts, numbers,
                  numbers, reports, st.lists(connectors, max_size=3),
                  st.lists(samples, max_size=3))


@given(views)
def test_any_station_document_is_the_documented_shape_with_its_values(
        view: StationView) -> None:
    _check(view)

"""The fast station JSON has exactly the documented shape (schemas.StationOut)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from save_server.domain.model import BootInfo, Connector, MeterSample, StatusReport
from save_server.domain.rules import ConnectorStatus, Measurand, StationStatus
from save_server.domain.views import StationView
from save_server.infrastructure.api.fast_json import station_json
from save_server.infrastructure.api.schemas import StationOut
from save_server.infrastructure.db.documents import dumps, view_document

T = datetime(2026, 11, 25, 8, 0, 0, 123456, tzinfo=UTC)


def test_fast_json_equals_the_pydantic_model() -> None:
    connector = Connector(1, ConnectorStatus.IN_USE, "Charging", "NoError", "hot", T, T, None,
                          "RFID", T + timedelta(seconds=1))
    empty = Connector(2)
    view = StationView(
        station_id="CP-1", status=StationStatus.CONNECTED, first_connected_at=T,
        last_connected_at=T + timedelta(hours=2), last_seen_at=None,
        boot_info=BootInfo("ACME", "M", None, "1.0"), name="Garage", address=None,
        latitude=38.5, longitude=-9.25,
        availability=StatusReport(T, ConnectorStatus.FAULTED, "Faulted", "GroundFailure"),
        connectors=[connector, empty],
        readings=[MeterSample(T, Measurand.VOLTAGE, 231.5, "V", "L1")],
    )
    assert station_json(view) == StationOut.of(view).model_dump(mode="json")
    bare = StationView("CP-2", StationStatus.DISCONNECTED)
    assert station_json(bare) == StationOut.of(bare).model_dump(mode="json")


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
def test_the_formatted_document_is_the_json_one_byte_for_byte(view: StationView) -> None:
    assert view_document(view) == dumps(station_json(view))
    assert json.loads(view_document(view))["id"] == view.station_id

"""The fast station JSON has exactly the documented shape (schemas.StationOut)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from save_server.domain.model import BootInfo, Connector, MeterSample, StatusReport
from save_server.domain.rules import ConnectorStatus, Measurand, StationStatus
from save_server.domain.views import StationView
from save_server.infrastructure.api.fast_json import station_json
from save_server.infrastructure.api.schemas import StationOut

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
